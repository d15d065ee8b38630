"""Missing data (issue 21, round 5): how users give a value where it stands, in wordings of our own.

Each case is a sentence a user could write; the assertion is what the bot would then (not) ask
for, which is what the user depends on: a value given must not be asked again, a value missing
must be asked.
"""

from __future__ import annotations

import pytest

from mailbot.core.parse import extract_new_text, parse_mail
from mailbot.core.parse.reply import own_signature
from mailbot.core.rules import PriorityTable, classify, detect_items
from mailbot.core.values import find_values

# --------------------------------------------------------------------------------------------
# The user id, labelled with the system it belongs to or in a regional possessive form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("User ID SPSE: mitrakarya21", True),
        ("Username LPSE = budi.santoso", True),
        ("user id spse : cv_sumber", True),
        ("User id ne tokojaya. Matur nuwun.", True),  # Javanese "ne" = "nya"
        # the system named without a value is still no user id
        ("user id spse saya tidak bisa dipakai", False),
        ("user id lpse sudah terblokir", False),
    ],
)
def test_user_id_with_the_system_named(table: PriorityTable, text: str, present: bool) -> None:
    assert ("user_id" in detect_items(table, text)) is present


# --------------------------------------------------------------------------------------------
# The error message, quoted after the verb that shows it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ('When we log in we get "Akun Anda belum aktif" every time.', True),
        ('Halamannya hanya menampilkan "Sistem sedang dalam pemeliharaan" sejak pagi.', True),
        ('Layar ditampilkan \'Sesi Anda telah berakhir\' terus.', True),
        ("Halamannya hanya menampilkan layar putih.", False),
    ],
)
def test_quoted_message_after_get_or_menampilkan(table: PriorityTable, text: str, present: bool) -> None:
    assert ("pesan_error" in detect_items(table, text)) is present


# --------------------------------------------------------------------------------------------
# When it happened is not when a tender closes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("SPSE tidak bisa dibuka, padahal ada tender yang tutup hari ini.", False),
        ("The site is down and our bid closes today.", False),
        ("Penawaran kami berakhir besok, situs tidak bisa diakses.", False),
        ("SPSE tidak bisa dibuka sejak pagi ini, padahal tender tutup hari ini.", True),
    ],
)
def test_a_closing_day_is_not_the_time_of_the_problem(table: PriorityTable, text: str, present: bool) -> None:
    assert ("waktu_kejadian" in detect_items(table, text)) is present


# --------------------------------------------------------------------------------------------
# Values by their form (mailbot.core.values)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        # the 16-digit NPWP in groups of four, with dots or dashes as well as spaces
        ("npwp: 0743.8812.0093.1000", "npwp", "0743.8812.0093.1000"),
        ("npwp 0743-8812-0093-1000", "npwp", "0743-8812-0093-1000"),
        ("nomor kami 0743.8812.0093.1000", "npwp", "0743.8812.0093.1000"),
        ("ktp 3271.0412.8805.0003", "nik", "3271.0412.8805.0003"),
        # a form cell flattened to text glues the label to its value
        ("npwp0743.8812.0093.1000", "npwp", "0743.8812.0093.1000"),
        ("nib8120115523417", "nib", "8120115523417"),
        # "its code": the label with the suffix -nya
        ("tendernya 10615870000 tutup tgl 14", "tender_code", "10615870000"),
        ("kode paketnya 10615870000", "tender_code", "10615870000"),
        # the account name between a user-id label and a number ends the label's reach
        ("user id sy budi_cv, tendernya 10615870000", "tender_code", "10615870000"),
        ("user id cvmaju88 lalu 10615870000", "tender_code", "10615870000"),
        # "the package's RUP code" is still a RUP code, no tender code
        ("kode rup paketnya 40981127", "rup", "40981127"),
    ],
)
def test_value_kinds(text: str, kind: str, value: str) -> None:
    found = [(v.kind, v.text) for v in find_values(text)]
    assert (kind, value) in found


def test_a_glued_label_needs_a_word_start() -> None:
    # "cvmajunpwp..." is an account name ending in letters, not the NPWP label
    assert all(v.kind != "npwp" for v in find_values("akun cvmajunpwp0743.8812.0093.1000x"))


# --------------------------------------------------------------------------------------------
# The sender's own signature gives data, never the problem
# --------------------------------------------------------------------------------------------

SIGNED = """Penawaran tidak bisa diunggah, tender 10023456000, batas jam 15.00 hari ini.

--
Salam,
CV Sumber Makmur
User ID: sumbermakmur21
Telp. 0812 3456 7890
"""

SIGNED_REPLY = """Sudah saya lampirkan screenshotnya.

--
Budi

Pada Sen, 7 Des 2026 pukul 09.00, Helpdesk LPSE <helpdesk@lpse.test> menulis:
> Mohon kirim User ID Anda.
> --
> Helpdesk LPSE
> User ID: helpdeskadmin
"""


def test_own_signature_is_the_block_below_the_separator() -> None:
    assert own_signature(SIGNED) == "Salam,\nCV Sumber Makmur\nUser ID: sumbermakmur21\nTelp. 0812 3456 7890"
    assert "sumbermakmur21" not in extract_new_text(SIGNED)


def test_a_signature_in_the_quoted_history_is_not_the_senders() -> None:
    assert own_signature(SIGNED_REPLY) == "Budi"
    assert own_signature("Mohon bantuan.\n\n> --\n> User ID: orang_lain\n") == ""
    assert own_signature("tanpa tanda tangan") == ""


def test_parse_mail_hands_the_signature_to_the_rules(table: PriorityTable) -> None:
    raw = ("From: a@b.test\r\nTo: helpdesk@lpse.test\r\nSubject: gagal upload penawaran\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n" + SIGNED.replace("\n", "\r\n")).encode()
    mail = parse_mail(raw)
    assert "sumbermakmur21" in mail.signature
    asked = classify(table, subject=mail.subject, text=mail.new_text, signature=mail.signature)
    without = classify(table, subject=mail.subject, text=mail.new_text)
    assert "user_id" in [m.key for m in without.missing]
    assert "user_id" not in [m.key for m in asked.missing]
    # the signature decides nothing else: same category and priority
    assert (asked.category, asked.priority) == (without.category, without.priority)
    assert "user_id" in detect_items(table, "", signature=mail.signature)


def test_the_signature_does_not_name_the_problem(table: PriorityTable) -> None:
    result = classify(table, subject="Terima kasih", text="Terima kasih atas bantuannya.",
                      signature="Tim Tender\nGagal upload? Hubungi kami")
    assert result.category == classify(table, subject="Terima kasih", text="Terima kasih atas bantuannya.").category


# --------------------------------------------------------------------------------------------
# A table that the text/plain alternative flattened: the HTML says where each value starts
# --------------------------------------------------------------------------------------------


def _alternative(plain: str, html: str) -> bytes:
    return (
        "From: a@b.test\r\nTo: helpdesk@lpse.test\r\nSubject: Akun belum diverifikasi\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b--\r\n"
    ).encode()


FORM_HTML = ("<p>Akun kami belum diverifikasi.</p><table><tr><td>Nama Perusahaan</td><td>CV Sinar Laut</td></tr>"
             "<tr><td>NPWP</td><td>0743.8812.0093.1000</td></tr><tr><td>User ID</td><td>sinarlaut</td></tr></table>")


def test_glued_table_cells_are_read_from_the_html(table: PriorityTable) -> None:
    glued = "Akun kami belum diverifikasi.\r\n\r\nNama PerusahaanCV Sinar Laut\r\nNPWP0743.8812.0093.1000\r\nUser IDsinarlaut"
    mail = parse_mail(_alternative(glued, FORM_HTML))
    assert "User ID sinarlaut" in mail.new_text
    assert {"user_id", "npwp", "nama_perusahaan"} <= detect_items(table, mail.new_text)


def test_a_plain_part_that_keeps_the_cells_apart_is_kept() -> None:
    plain = "Akun kami belum diverifikasi (teks biasa).\r\n\r\nNama Perusahaan: CV Sinar Laut\r\nNPWP: 0743.8812.0093.1000\r\nUser ID: sinarlaut"
    mail = parse_mail(_alternative(plain, FORM_HTML))
    assert "(teks biasa)" in mail.new_text
    assert "User ID: sinarlaut" in mail.new_text


# --------------------------------------------------------------------------------------------
# A button that is not there, said with the negation first: a display problem, the browser is asked
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Pokja kami mau menetapkan pemenang tender 10023456000 tapi tidak ada tombol Tetapkan di halaman evaluasi.",
        "Di halaman tender 10023456000 tidak muncul tombol/menu untuk mengirim sanggah, user id: cvmaju01.",
    ],
)
def test_no_button_there_asks_for_the_browser(table: PriorityTable, text: str) -> None:
    result = classify(table, subject="Kendala tender 10023456000", text=text)
    assert "browser" in [m.key for m in result.missing]


def test_the_browser_stated_is_not_asked(table: PriorityTable) -> None:
    text = "Tidak ada tombol Tetapkan untuk tender 10023456000, kami pakai Firefox terbaru."
    result = classify(table, subject="Kendala tender 10023456000", text=text)
    assert "browser" not in [m.key for m in result.missing]


# --------------------------------------------------------------------------------------------
# The e-Katalog's own login: the vendor is found by its name first, not by an SPSE user id
# --------------------------------------------------------------------------------------------


def test_katalog_login_asks_the_company(table: PriorityTable) -> None:
    result = classify(table, subject="tidak bisa login",
                      text='Akun kami tidak bisa login ke katalog v6, muncul "Akun tidak ditemukan". Mohon dibantu.')
    # (whether it lands in akun_login or, as other e-Katalog problems, the default category)
    assert [m.key for m in result.missing] == ["nama_perusahaan"]


def test_spse_login_still_asks_the_account(table: PriorityTable) -> None:
    result = classify(table, subject="tidak bisa login",
                      text='Saya tidak bisa login ke SPSE, muncul "User ID atau Password salah".')
    assert result.category == "akun_login"
    assert "user_id" in [m.key for m in result.missing]
    assert "nama_perusahaan" not in [m.key for m in result.missing]


# --------------------------------------------------------------------------------------------
# A new vendor waiting for its first verification has no account to look up yet
# --------------------------------------------------------------------------------------------


def _asked(table: PriorityTable, subject: str, text: str) -> list[str]:
    return [m.key for m in classify(table, subject=subject, text=text).missing]


def test_new_registration_waiting_for_verification(table: PriorityTable) -> None:
    asked = _asked(table, "verifikasi akun",
                   "sy udah daftar akun penyedia 2 minggu lalu, berkas sdh dikirim. tp status msh blm diverifikasi.")
    assert "user_id" not in asked
    assert {"nama_perusahaan", "npwp"} <= set(asked)


def test_existing_account_reverification_asks_the_user_id(table: PriorityTable) -> None:
    asked = _asked(table, "verifikasi ulang",
                   "Akun CV Karya Baru belum diverifikasi ulang setelah kami ganti direktur. NPWP 01.234.567.8-901.000")
    assert "user_id" in asked


def test_registered_and_waiting_asks_the_company_even_as_a_registration(table: PriorityTable) -> None:
    asked = _asked(table, "sdh daftar kok blm aktif",
                   "selamat pagi, kami sudah daftar penyedia seminggu lalu dan sudah bawa berkas ke kantor, tapi akun blm aktif.")
    assert {"nama_perusahaan", "npwp"} <= set(asked)
    assert "user_id" not in asked


def test_an_activation_mail_that_never_came_asks_nothing(table: PriorityTable) -> None:
    asked = _asked(table, "email aktivasi tidak masuk",
                   "Saya sudah daftar akun penyedia kemarin tapi email aktivasi belum masuk, jadi akun belum aktif.")
    assert asked == []


# --------------------------------------------------------------------------------------------
# An NPWP finds the company, not the account that logs in
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Akun terkunci", 'Akun kami terkunci, muncul "Akun Anda dikunci". NPWP 01.234.567.8-901.000'),
        ("Lupa password", "Kami lupa password akun SPSE. NPWP perusahaan: 0743 8812 0093 1000"),
        ("Roaming", "Mohon bantuan agregasi data penyedia, akun kami dari LPSE Kab. Kediri. NPWP 01.234.567.8-901.000"),
    ],
)
def test_an_npwp_does_not_stand_for_the_user_id(table: PriorityTable, subject: str, text: str) -> None:
    result = classify(table, subject=subject, text=text)
    assert result.category in ("akun_login", "akun_lupa_password", "akun_roaming")
    assert "user_id" in [m.key for m in result.missing]


def test_the_user_id_given_is_enough(table: PriorityTable) -> None:
    result = classify(table, subject="Lupa password", text="Kami lupa password. User ID: cvmaju01")
    assert [m.key for m in result.missing] == []


# --------------------------------------------------------------------------------------------
# A schedule change that fails with an error when saved: a picture of the form
# --------------------------------------------------------------------------------------------


def test_schedule_save_error_asks_a_screenshot(table: PriorityTable) -> None:
    text = ("Kami Pokja 3 mau memperpanjang jadwal pemasukan penawaran tender 10023456000, "
            'tapi saat klik Simpan muncul "Jadwal gagal disimpan".')
    result = classify(table, subject="Perubahan jadwal tender", text=text)
    assert result.category in ("tender_jadwal", "tender_proses")
    assert "screenshot" in [m.key for m in result.missing]


def test_schedule_question_without_error_asks_no_screenshot(table: PriorityTable) -> None:
    text = "Jadwal tender 10023456000 tidak sesuai dengan adendum, mohon dicek."
    result = classify(table, subject="Jadwal tender tidak sesuai", text=text)
    assert "screenshot" not in [m.key for m in result.missing]


# --------------------------------------------------------------------------------------------
# SPSE that loads forever for everyone, on every device: the server's fault, no browser asked
# --------------------------------------------------------------------------------------------


def test_endless_loading_for_everyone_asks_no_browser(table: PriorityTable) -> None:
    text = ("Sejak jam 09.10 SPSE tidak bisa dibuka, halaman hanya loading terus. "
            "Kami bertiga di kantor semuanya mengalami hal yang sama, juga dari HP.")
    result = classify(table, subject="SPSE tidak bisa dibuka", text=text)
    assert result.category == "spse_down"
    assert "browser" not in [m.key for m in result.missing]


def test_endless_loading_for_one_user_asks_the_browser(table: PriorityTable) -> None:
    text = "Sejak jam 09.10 SPSE tidak bisa dibuka di laptop saya, halaman hanya loading terus."
    result = classify(table, subject="SPSE tidak bisa dibuka", text=text)
    assert "browser" in [m.key for m in result.missing]


# --------------------------------------------------------------------------------------------
# A vendor's own button missing: browser and a picture of its page; an official's: the browser
# --------------------------------------------------------------------------------------------


def test_vendors_missing_objection_button(table: PriorityTable) -> None:
    text = ("Kami CV Mitra Jaya mau mengajukan sanggah untuk tender 10023456000, tapi tidak ada tombol "
            "Kirim Sanggah di halaman tender. User ID: mitrajaya01")
    asked = [m.key for m in classify(table, subject="Tombol sanggah", text=text).missing]
    assert {"browser", "screenshot"} <= set(asked)


def test_officials_disabled_button_asks_only_the_browser(table: PriorityTable) -> None:
    text = "Kami Pokja Pemilihan 4, tombol Tetapkan Pemenang untuk tender 10023456000 abu-abu, tidak bisa diklik."
    asked = [m.key for m in classify(table, subject="Tombol penetapan", text=text).missing]
    assert "browser" in asked
    assert "screenshot" not in asked


def test_katalog_login_of_a_named_vendor_asks_its_user_id(table: PriorityTable) -> None:
    text = ('Kami dari CV Anugrah Sentosa tidak bisa login ke katalog v6, muncul pesan "Akun belum terverifikasi".')
    asked = [m.key for m in classify(table, subject="login katalog", text=text).missing]
    assert asked == ["user_id"]
    given = text + " User ID: anugrahsentosa01"
    assert [m.key for m in classify(table, subject="login katalog", text=given).missing] == []


@pytest.mark.parametrize(
    ("text", "company"),
    [
        ("nama perusahaan      sinar jaya abadi\nnpwp 01.234.567.8-901.000", "sinar jaya abadi"),
        ("nama penyedia | berkah mandiri\nuser id | berkah01", "berkah mandiri"),
        ("company name  nusa consult", "nusa consult"),
    ],
)
def test_company_in_a_form_line_without_colon(text: str, company: str) -> None:
    assert ("company", company) in [(v.kind, v.text) for v in find_values(text)]


@pytest.mark.parametrize(
    "text",
    ["nama perusahaan kami salah ketik", "nama perusahaan tidak sesuai", "nama penyedia berubah",
     "mohon dicek nama perusahaan sinar jaya"],
)
def test_a_sentence_about_the_name_gives_no_company(text: str) -> None:
    assert all(v.kind != "company" for v in find_values(text))
