"""Staff keyword parsing: Indonesian keywords, English aliases, with or without '#'."""

from __future__ import annotations

import pytest

from mailbot.core.commands import CommandKind, parse_staff_reply

K = CommandKind


@pytest.mark.parametrize(
    ("text", "kind", "arg"),
    [
        ("#tutup", K.CLOSE, ""),
        ("#close", K.CLOSE, ""),
        ("CLOSED", K.CLOSE, ""),
        ("tutup", K.CLOSE, ""),
        ("#TUTUP", K.CLOSE, ""),
        ("#eskalasi", K.ESCALATE, ""),
        ("ESCALATE", K.ESCALATE, ""),
        ("#escalate", K.ESCALATE, ""),
        ("#mintadata kode tender, screenshot", K.NEED_INFO, "kode tender, screenshot"),
        ("#needinfo browser", K.NEED_INFO, "browser"),
        ("mintadata kode tender", K.NEED_INFO, "kode tender"),
        ("#prioritas tinggi", K.PRIORITY, "tinggi"),
        ("#priority low", K.PRIORITY, "rendah"),
        ("#priority medium karena tender besok", K.PRIORITY, "sedang karena tender besok"),
        ("prioritas rendah", K.PRIORITY, "rendah"),
        ("#catatan sudah dicek", K.NOTE, "sudah dicek"),
        ("#note", K.NOTE, ""),
        ("#telepon", K.CALLED, ""),
        ("#called 10:15 ok", K.CALLED, "10:15 ok"),
        ("#ambil", K.TAKE, ""),
        ("take", K.TAKE, ""),
        ("#buka", K.REOPEN, ""),
        ("#reopen", K.REOPEN, ""),
        ("# tutup", K.CLOSE, ""),
        ("#tutup:", K.CLOSE, ""),
        ("#jawab 2", K.ANSWER, "2"),
        ("#answer Lupa-Password", K.ANSWER, "lupa-password"),
        ("jawab 5", K.ANSWER, "5"),
        ("#tarik", K.WITHDRAW, ""),
        ("#tarik sudah ditangani LPSE", K.WITHDRAW, "sudah ditangani LPSE"),
        ("#withdraw", K.WITHDRAW, ""),
        ("tarik", K.WITHDRAW, ""),
        ("#teruskan", K.RELAY, ""),
        ("#relay", K.RELAY, ""),
        ("teruskan", K.RELAY, ""),
    ],
)
def test_keywords(text: str, kind: CommandKind, arg: str) -> None:
    reply = parse_staff_reply(text)
    assert reply.errors == ()
    assert [(c.kind, c.arg) for c in reply.commands] == [(kind, arg)]


def test_commands_then_answer() -> None:
    reply = parse_staff_reply("\n#ambil\n#tutup\n\nSilakan login ulang.\nTerima kasih.")
    assert [c.kind for c in reply.commands] == [K.TAKE, K.CLOSE]
    assert reply.body == "Silakan login ulang.\nTerima kasih."


@pytest.mark.parametrize(
    "text",
    [
        "Ambil formulir di kantor LPSE.",  # ordinary sentence starting with a keyword word
        "Tutup dulu browsernya lalu buka lagi.",
        "Catatan: akun Anda sudah aktif.",
        "Buka menu Profil.",
        "Prioritas kami adalah tender Anda.",
        "Teruskan e-mail ini ke bagian keuangan.",
        "Tarik kembali dokumen lama, lalu unggah ulang.",
    ],
)
def test_sentences_are_answers_not_commands(text: str) -> None:
    reply = parse_staff_reply(text)
    assert reply.commands == () and reply.errors == ()
    assert reply.body == text


def test_unknown_hash_keyword_is_an_error() -> None:
    reply = parse_staff_reply("#hapus\nteks")
    assert reply.commands == ()
    assert len(reply.errors) == 1 and "hapus" in reply.errors[0].message


@pytest.mark.parametrize(("text", "meant"), [("#selesai\nSudah.", "#tutup"), ("#minta data kode tender", "#mintadata"),
                                             ("#eskalsi", "#eskalasi"), ("#tutp", "#tutup")])
def test_an_unknown_keyword_names_the_command_meant(text: str, meant: str) -> None:
    [error] = parse_staff_reply(text).errors
    assert error.message.endswith(f"; maksud Anda {meant}?")


def test_an_unknown_keyword_like_no_command_suggests_nothing() -> None:
    assert parse_staff_reply("#hapus").errors[0].message == "perintah '#hapus' tidak dikenal"


def test_bad_priority_level_is_an_error() -> None:
    reply = parse_staff_reply("#prioritas darurat")
    assert reply.errors and "tinggi" in reply.errors[0].message


def test_take_with_arguments_is_an_error_when_hashed() -> None:
    assert parse_staff_reply("#ambil sekarang").errors


def test_relay_takes_no_argument_the_text_below_is_the_staff_members_own() -> None:
    assert parse_staff_reply("#teruskan semuanya").errors
    reply = parse_staff_reply("#teruskan\nSudah kami konfirmasi ke LKPP.")
    assert [c.kind for c in reply.commands] == [K.RELAY] and reply.body == "Sudah kami konfirmasi ke LKPP."


def test_configured_levels() -> None:
    reply = parse_staff_reply("#prioritas kritis", levels=("kritis", "tinggi", "sedang", "rendah"))
    assert [(c.kind, c.arg) for c in reply.commands] == [(K.PRIORITY, "kritis")]


def test_keywords_only_count_at_the_top() -> None:
    reply = parse_staff_reply("Baik, akan kami cek.\n#tutup")
    assert reply.commands == ()
    assert reply.body.endswith("#tutup")
    # ... and a keyword below the answer is an error, so the reply is refused, not relayed (issue 21).
    assert [e.line for e in reply.errors] == ["#tutup"]
