"""Data values recognised by their form where they stand (issue 21): each form, and what it is not."""

from __future__ import annotations

import pytest

from mailbot.core.domain import Attachment
from mailbot.core.matching import normalise
from mailbot.core.rules import classify, detect_items
from mailbot.core.values import MAX_CHARS, find_values
from mailbot.settings.priorities import PriorityTable


def kinds(text: str) -> list[tuple[str, str]]:
    return [(v.kind, v.text) for v in find_values(normalise(text))]


# --------------------------------------------------------------------------------------------
# Tender/package codes: labelled or not, in a form, in the subject, in an SPSE address
# --------------------------------------------------------------------------------------------

TENDER_CODES = [
    ("Kode Tender      : 10034567000", "10034567000"),  # an aligned form field pasted from SPSE
    ("tender kode 10023456000", "10023456000"),  # the label the other way round
    ("tender 10081234000 gagal upload", "10081234000"),
    ("Kode Paket: 8812345", "8812345"),
    ("ID paket 10456789", "10456789"),
    ("kode lelang 1234567", "1234567"),
    ("tender no. 10299881", "10299881"),
    ("Tender ID 10089012000", "10089012000"),
    ("Kode: 10092345000", "10092345000"),
    ("paket (10234567), gagal upload", "10234567"),
    ("mohon dicek 10234567 tidak bisa upload", "10234567"),  # bare: 7-12 digits
    ("[10056789000] tahapan pemasukan sudah lewat", "10056789000"),
    ("https://spse.inaproc.id/sumberjayakab/lelang/10078901000/pengumumanlelang", "10078901000"),
    ("NPWP sudah benar. 10023456000 gagal", "10023456000"),  # the NPWP label ends with its sentence
    ("NPWP dan kode tender 10023456000", "10023456000"),  # the nearest label wins
    ("kode tender 12345", "12345"),  # a short code counts after its label
]


@pytest.mark.parametrize(("text", "code"), TENDER_CODES)
def test_a_tender_code_is_found_where_it_stands(text: str, code: str) -> None:
    assert ("tender_code", code) in kinds(text)


NOT_TENDER_CODES = [
    ("hubungi 0812-3456-7890", "phone"),
    ("HP 081234567890", "phone"),
    ("wa +62 812 3456 7890", "phone"),
    ("WA 0813 1234 5678", "phone"),
    ("6281234567890", "phone"),
    ("kantor (021) 7654321", "phone"),
    ("telp. 0274-512345", "phone"),
    ("NPWP 01.234.567.8-901.000", "npwp"),
    ("01.234.567.8-901.000", "npwp"),
    ("NPWP 012345678901000", "npwp"),
    ("012345678901000", "npwp"),
    ("NPWP baru 0123456789012345", "npwp"),
    ("NPWP 01 234 567 8 901 000", "npwp"),
    ("NIB 9120001234567", "nib"),
    ("9120001234567", "nib"),
    ("NIK 3201234567890123", "nik"),
    ("NIP 19700101 199003 1 005", "nip"),
    ("NIP 197001011990031005", "nip"),
    ("tanggal 15/07/2024", "date"),
    ("pada 2024-07-15", "date"),
    ("02-09-2024", "date"),
    ("pukul 10.15 WIB", "time"),
    ("jam 10:15", "time"),
    ("senilai Rp 150.000.000", "amount"),
    ("Rp. 150000000", "amount"),
    ("HPS 150000000", "amount"),
    ("nilai penawaran 1500000000 rupiah", "amount"),
    ("150.000.000", "amount"),
    ("kode OTP 123456", "otp"),
    ("kode verifikasi 48213377", "otp"),
    ("user id 12345678", "user_id"),
    ("no rekening 1234567890", "account"),
    ("file 5 MB", "quantity"),
    ("Rp150000000", "other"),  # glued to a word
    ("[TTS-000123]", "other"),  # a ticket number
    ("cvmaju01", "other"),
    ("versi 124.0.6367.60", "version"),
    ("chrome 124.0.6367.60", "other"),
    ("surat nomor 027/123/2024", "letter"),
    ("192.168.1.1", "other"),
    ("0123456", "other"),  # a leading zero: no SPSE code
    ("kode RUP 45123678", "rup"),  # the plan's number, not the tender's (issue 21)
    ("Kode RUP: 41827365", "rup"),
]


@pytest.mark.parametrize(("text", "kind"), NOT_TENDER_CODES)
def test_other_numbers_are_not_tender_codes(text: str, kind: str) -> None:
    found = kinds(text)
    assert found, text
    assert all(k != "tender_code" for k, _ in found)
    assert found[0][0] == kind


def test_each_number_of_a_mail_gets_its_own_kind() -> None:
    text = ("Kami CV Anugrah (NPWP 012345678901000) gagal upload tanggal 14/08/2024 pukul 16:30, "
            "nilai Rp 1.250.000.000, kode tender 10023456000, HP 0813 1234 5678")
    assert [k for k, _ in kinds(text)] == ["company", "npwp", "date", "time", "amount", "tender_code", "phone"]


# --------------------------------------------------------------------------------------------
# Company names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Kami dari CV Sinar Bahari selaku peserta", "cv sinar bahari selaku peserta"),
        ("PT Sumber Rejeki Abadi tidak bisa login", "pt sumber rejeki abadi"),
        ("cv. maju bersama", "cv. maju bersama"),
        ("Nama Perusahaan  : CV Karya Mandiri", "cv karya mandiri"),
        ("PT (Persero) Wijaya Karya", "pt (persero) wijaya karya"),
        ("Koperasi Tani Makmur", "koperasi tani makmur"),
    ],
)
def test_a_company_name(text: str, name: str) -> None:
    assert ("company", name) in kinds(text)


@pytest.mark.parametrize("text", ["CV saya belum diverifikasi", "PT tersebut", "upload cv", "pt-nya", "kapten"])
def test_not_a_company_name(text: str) -> None:
    assert all(k != "company" for k, _ in kinds(text))


def test_only_a_bounded_prefix_is_read() -> None:
    text = "x " * MAX_CHARS + "kode tender 10023456000"
    assert find_values(text) == []


# --------------------------------------------------------------------------------------------
# The table's items that use them, and what a category asks for
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("NPWP perusahaan: 02.345.678.9-012.000", {"npwp", "identitas_akun", "peran"}, {"user_id", "kode_tender"}),
        ("User ID        : cv_sumber_rejeki", {"user_id", "identitas_akun"}, {"npwp"}),
        ("akun cvmaju01 terkunci", {"user_id", "identitas_akun"}, set()),
        ("akun CV Karya Utama terkunci", {"nama_perusahaan", "peran"}, {"identitas_akun", "user_id"}),
        ("NIB 9120001234567", {"peran"}, {"npwp", "identitas_akun", "kode_tender"}),
        ("NIK 3201234567890123", set(), {"npwp", "identitas_akun", "kode_tender"}),
        ("sejak 10.30 tadi", {"waktu_kejadian"}, {"kode_tender"}),
        ("error pada 14:05", {"waktu_kejadian"}, set()),
        ("Rp 1.500.000", set(), {"waktu_kejadian", "kode_tender"}),
    ],
)
def test_items_by_value(table: PriorityTable, text: str, present: set[str], absent: set[str]) -> None:
    found = detect_items(table, text)
    assert present <= found
    assert not absent & found


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("muncul pesan Gagal mengirim penawaran silakan ulangi", True),
        ("keluar tulisan ukuran file melebihi batas maksimum", True),
        ("muncul pesan error Gagal melakukan dekripsi dokumen", True),
        ("\u201cTerjadi kesalahan pada server\u201d muncul di layar", True),
        ("The error message: Upload failed, file exceeds maximum size", True),
        ("muncul pesan error", False),  # no message after it
        ("tidak muncul pesan error sama sekali hanya loading", False),
        ("tanpa keterangan apa pun", False),
        ("tombol kirim tidak merespon", False),
    ],
)
def test_an_error_message_after_the_words_that_introduce_it(table: PriorityTable, text: str, present: bool) -> None:
    assert ("pesan_error" in detect_items(table, text)) is present


def missing(table: PriorityTable, subject: str, text: str, attachments: tuple[Attachment, ...] = ()) -> list[str]:
    return [m.key for m in classify(table, subject=subject, text=text, attachments=attachments).missing]


def test_a_code_only_in_the_subject_is_not_asked_for(table: PriorityTable) -> None:
    assert "kode_tender" not in missing(table, "10081234000 - gagal kirim penawaran", "penawaran tidak terkirim")
    assert "kode_tender" in missing(table, "gagal kirim penawaran", "penawaran tidak terkirim, HP 081234567890")


def test_a_vendor_who_gave_the_npwp_is_still_asked_for_the_user_id(table: PriorityTable) -> None:
    # (issue 21, round 5: the blind-written sets ask the account's user id; the NPWP finds the company)
    text = 'tidak bisa login, muncul pesan "Akun Anda tidak aktif". NPWP 01.234.567.8-901.000'
    assert missing(table, "Tidak bisa login", text) == ["user_id"]
    assert missing(table, "Tidak bisa login", text + " User ID: cvmaju01") == []


def test_the_browser_is_asked_only_when_the_page_shows_wrong(table: PriorityTable) -> None:
    down = missing(table, "Website LPSE down", "website LPSE tidak bisa diakses sejak pukul 08.15, muncul 502 Bad Gateway")
    assert down == []
    blank = missing(table, "SPSE tidak bisa diakses", "sejak jam 09.00 halaman SPSE blank putih, tidak bisa diakses")
    assert blank == ["pesan_error_atau_screenshot", "browser"]
    given = missing(table, "SPSE tidak bisa diakses", "sejak jam 9 halaman SPSE blank putih di Chrome, tidak bisa diakses")
    assert given == ["pesan_error_atau_screenshot"]


def test_the_reason_names_the_value_and_how_it_was_read(table: PriorityTable) -> None:
    result = classify(table, subject="", text="Kode Tender      : 10034567000\ngagal upload")
    reasons = [h.reason for h in result.hits if h.rule == "item:kode_tender"]
    assert reasons == ['found tender_code "kode tender : [10034567000] gagal upload" (label \'kode tender\')']


def test_the_browser_is_not_asked_when_the_server_answers_or_everyone_fails(table: PriorityTable) -> None:
    text = "sejak pukul 07.45 website LPSE tidak bisa dibuka, yang muncul halaman putih bertuliskan"
    assert "browser" in missing(table, "Website LPSE tidak bisa dibuka", text)
    assert "browser" not in missing(table, "Website LPSE error 502 Bad Gateway", text)
    assert "browser" not in missing(table, "Website LPSE tidak bisa dibuka", text + ". Sudah dicoba dari 3 komputer.")


# --------------------------------------------------------------------------------------------
# Issue 21, the blind training sets: the 16-digit NPWP and a company after a pronoun
# --------------------------------------------------------------------------------------------


def test_the_16_digit_npwp_of_a_company_starts_with_0_a_nik_never_does() -> None:
    assert kinds("NPWP            : 0743 8812 0093 1000") == [("npwp", "0743 8812 0093 1000")]
    assert kinds("npwp baru 0031445677821000") == [("npwp", "0031445677821000")]
    assert kinds("mohon dicek 0031445677821000") == [("npwp", "0031445677821000")]  # no label: its form
    assert kinds("NIK 3201 0123 4567 0001") == [("nik", "3201 0123 4567 0001")]
    assert kinds("3201012345670001 milik direktur") == [("nik", "3201012345670001")]


def test_a_company_after_pt_kami_is_still_found() -> None:
    companies = [v.text for v in find_values(normalise("pt kami PT Anugerah Tani Makmur\nmksh")) if v.kind == "company"]
    assert companies == ["pt anugerah tani makmur"]


def test_a_company_named_by_its_form_label() -> None:
    found = [(v.text, v.how) for v in find_values(normalise("Nama Perusahaan : Sinar Jaya Abadi")) if v.kind == "company"]
    assert found == [("sinar jaya abadi", "label")]
    assert [v for v in find_values(normalise("Nama perusahaan: belum ada")) if v.kind == "company"] == []
