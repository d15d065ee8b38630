"""Canned answers: the starter library, clear errors for broken files, suggestions, hit rate."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment

from mailbot.core import matching
from mailbot.core.parse import parse_mail
from mailbot.ops.answers_eval import suggestion_hit_rate
from mailbot.settings.answers import AnswersError, load_answers, suggest
from mailbot.settings.config import PROJECT_ROOT
from mailbot.settings.priorities import load_priority_table

BUILTIN = PROJECT_ROOT / "templates" / "answers"
TABLE = load_priority_table(PROJECT_ROOT / "config" / "priorities.toml")
CATEGORIES = [c.key for c in TABLE.categories]


def library(*folders: Path):  # type: ignore[no-untyped-def]
    return load_answers([BUILTIN, *folders], Environment(), CATEGORIES)


def test_starter_library_loads_with_unique_ids_and_known_categories() -> None:
    lib = library()
    assert len(lib.answers) >= 10
    assert len({a.id for a in lib.answers}) == len(lib.answers)
    assert lib.find("1").key == "lupa-password"  # type: ignore[union-attr]
    assert lib.find("#LUPA-PASSWORD").id == 1  # type: ignore[union-attr]
    assert lib.find("99") is None


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


GOOD = '+++\nid = 50\nkey = "lokal"\ntitle = "Jam layanan"\ncategories = ["pertanyaan_umum"]\n+++\nBuka 08.00.\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("no header at all", "must start with a +++"),
        ('+++\nid = "x"\nkey = "a"\ntitle = "t"\n+++\nteks', "'id' is missing or not a int"),
        ('+++\nid = 51\nkey = "a"\ntitle = "t"\nkategori = []\n+++\nteks', "unknown header key 'kategori'"),
        ('+++\nid = 51\nkey = "a"\ntitle = "t"\n+++\n{% if %}', "template error"),
        ('+++\nid = 51\nkey = "a"\ntitle = "t"\ncategories = ["tidak_ada"]\n+++\nteks', "'tidak_ada' is not in"),
        ('+++\nid = 1\nkey = "a"\ntitle = "t"\n+++\nteks', "id 1 is also used"),
        ('+++\nid = 51\nkey = "a"\ntitle = "t"\n+++\n', "answer text is empty"),
    ],
)
def test_broken_answer_is_one_clear_error_naming_the_file(tmp_path: Path, text: str, needle: str) -> None:
    folder = write(tmp_path / "answers", "zz-rusak.md", text)
    with pytest.raises(AnswersError) as err:
        library(folder)
    assert "zz-rusak.md" in str(err.value) or "also used" in str(err.value)
    assert needle in str(err.value)


def test_a_deployment_adds_and_overrides_answers(tmp_path: Path) -> None:
    folder = write(tmp_path / "answers", "jam.md", GOOD)
    write(folder, "lupa.md", '+++\nid = 1\nkey = "lupa-password"\ntitle = "Versi lokal"\n+++\nDatang ke LPSE.\n')
    lib = library(folder)
    assert lib.find("lokal").title == "Jam layanan"  # type: ignore[union-attr]
    assert lib.find("1").title == "Versi lokal"  # type: ignore[union-attr]


def test_suggestions_rank_category_then_keywords() -> None:
    lib = library()
    top = suggest(lib, category="tender_upload", subject="Gagal upload", text="file terlalu besar saat upload")
    assert [s.answer.key for s in top][:2] == ["ukuran-file", "aplikasi-enkripsi"]
    assert top[0].score > top[1].score
    assert suggest(lib, category="lainnya", subject="Halo", text="Selamat pagi") == []
    assert len(suggest(lib, category="tender_upload", subject="x", text="y", limit=1)) == 1


def test_the_keyword_prefilter_changes_no_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only keywords the one-pass filter rules out are not searched: the same suggestions, with the
    same reasons, as when every keyword is searched."""
    lib = library()
    mails = [parse_mail(p.read_bytes()) for p in sorted((PROJECT_ROOT / "tests" / "data" / "labeled").glob("*.eml"))]
    cases = [(c, m.subject, m.new_text) for m in mails for c in ("tender_upload", "lainnya")]
    cases += [("lainnya", "Lupa-password", "ßupload; LUPA   PASSWORD, apendo! résumé jadwal\npelatihan"),
              ("lainnya", "", "lupa passwordnya, reset-password")]

    def run() -> list[list[tuple[str, float, tuple[str, ...]]]]:
        return [[(s.answer.key, s.score, s.reasons) for s in suggest(lib, category=c, subject=su, text=t, limit=9,
                                                                    min_score=1.0)]
                for c, su, t in cases]

    filtered = run()
    assert sum(map(len, filtered)) > len(cases)  # keywords were found
    monkeypatch.setattr(matching.Prefilter, "found", lambda self, text: None)
    assert run() == filtered


def test_top3_hit_rate_on_the_labeled_set() -> None:
    result = suggestion_hit_rate(library(), TABLE, PROJECT_ROOT / "tests" / "data" / "labeled")
    print(f"top-3 hit rate {result.hits}/{result.total} = {result.rate:.1%}")
    assert result.total >= 60
    assert result.rate >= 0.85
