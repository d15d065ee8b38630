"""Targeted tests for mailbot.core.parse: ids, headers, bodies, reply text, HTML and filenames."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from mailbot.core.parse import (
    MAX_SUBJECT_CHARS,
    extract_new_text,
    html_to_text,
    parse_mail,
    sanitize_filename,
    sanitize_html,
)


def mail(headers: str, body: str = "Isi.\n") -> bytes:
    """A small mail with CRLF line ends from a header block and a body."""
    text = headers.strip("\n") + "\n\n" + body
    return text.replace("\n", "\r\n").encode("utf-8")


# ---------------------------------------------------------------------------------------
# Message-ID
# ---------------------------------------------------------------------------------------


def test_missing_message_id_is_a_stable_hash() -> None:
    raw = mail("From: a@x.example\nSubject: tanpa id")
    first, second = parse_mail(raw), parse_mail(bytes(raw))
    assert first.message_id == second.message_id
    assert first.message_id == "mailbot-sha256-" + hashlib.sha256(raw).hexdigest()[:32] + "@missing"


def test_missing_message_id_differs_for_different_bytes() -> None:
    one = parse_mail(mail("From: a@x.example\nSubject: satu"))
    two = parse_mail(mail("From: a@x.example\nSubject: dua"))
    assert one.message_id != two.message_id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Message-ID: <abc@x.example>", "abc@x.example"),
        ("Message-ID:   <abc@x.example>  ", "abc@x.example"),
        ("Message-ID: abc@x.example", "abc@x.example"),
        ("Message-ID: <abc@x.example> (komentar)", "abc@x.example"),
        ("Message-ID:\n <folded@x.example>", "folded@x.example"),
        ("Message-Id: <mixed.case@X.Example>", "mixed.case@X.Example"),
    ],
)
def test_message_id_forms(header: str, expected: str) -> None:
    assert parse_mail(mail(f"From: a@x.example\n{header}")).message_id == expected


@pytest.mark.parametrize("header", ["Message-ID:", "Message-ID: <>", "Message-ID:    "])
def test_empty_message_id_falls_back_to_hash(header: str) -> None:
    assert parse_mail(mail(f"From: a@x.example\n{header}")).message_id.startswith("mailbot-sha256-")


def test_very_long_message_id_is_capped_but_distinct() -> None:
    a = parse_mail(mail("Message-ID: <" + "a" * 1500 + "1@x>")).message_id
    b = parse_mail(mail("Message-ID: <" + "a" * 1500 + "2@x>")).message_id
    assert len(a) <= 998 and len(b) <= 998 and a != b


def test_empty_input_does_not_raise() -> None:
    parsed = parse_mail(b"")
    assert parsed.message_id.startswith("mailbot-sha256-")
    assert parsed.from_addr == "" and parsed.text == "" and parsed.size == 0


def test_bytearray_is_accepted_and_str_is_refused() -> None:
    assert parse_mail(bytearray(mail("From: a@x.example"))).from_addr == "a@x.example"
    with pytest.raises(TypeError):
        parse_mail("From: a@x.example\r\n\r\nx")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Addresses, subject, date, ids
# ---------------------------------------------------------------------------------------


def test_addresses_are_lower_cased_and_invalid_ones_dropped() -> None:
    parsed = parse_mail(
        mail(
            'From: "Santoso, Budi" <Budi@Maju.Example>\n'
            'To: "Helpdesk, LPSE" <Helpdesk@LPSE.example>, bukan-alamat, <>\n'
            "To: kedua@lpse.example\n"
            "Cc: =?utf-8?Q?Siti_=C3=84?= <SITI@x.example>, siti@x.example"
        )
    )
    assert parsed.from_addr == "budi@maju.example"
    assert parsed.from_name == "Santoso, Budi"
    assert parsed.to == ("helpdesk@lpse.example", "kedua@lpse.example")
    assert parsed.cc == ("siti@x.example",)


def test_from_without_address_keeps_the_name_text() -> None:
    parsed = parse_mail(mail("From: Budi Santoso"))
    assert parsed.from_addr == ""
    assert parsed.from_name == "Budi Santoso"
    assert "no usable address in From header" in parsed.defects


def test_subject_is_one_clean_line() -> None:
    raw = (
        b"Subject: Satu\r\n\tdua  \t tiga \x1b[31m merah\xe2\x80\xae balik =?utf-8?Q?empat=0Alima?=\r\n"
        b"From: a@x.example\r\n\r\nx"
    )
    subject = parse_mail(raw).subject
    assert subject == "Satu dua tiga [31m merah balik empat lima"


def test_subject_is_capped() -> None:
    subject = parse_mail(mail("Subject: " + "kata " * 400)).subject
    assert len(subject) <= MAX_SUBJECT_CHARS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?B?VGlkYWsgYmlzYSBsb2dpbg==?=", "Tidak bisa login"),
        ("=?UTF-8?Q?Tidak_bisa_login?= =?UTF-8?Q?_lagi?=", "Tidak bisa login lagi"),
        ("=?utf-8?b?8J+Yig==?= senyum", "\U0001f60a senyum"),
        ("=?utf-8*id?Q?bahasa?=", "bahasa"),
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        ("=?windows-1252?Q?=93kutip=94?=", "\u201ckutip\u201d"),
        ("=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="),  # undecodable: kept literally
        ("=?utf-8?B?VGlk?=YWs", "TidYWs"),
        ("no =? encoded ?= words", "no =? encoded ?= words"),
    ],
)
def test_subject_encoded_words(header: str, expected: str) -> None:
    assert parse_mail(mail(f"Subject: {header}")).subject == expected


@pytest.mark.parametrize("charset", ["x-unknown", "idna", "unicode_escape", "zlib", "base64", "a" * 50])
def test_subject_with_refused_charset_is_guessed(charset: str) -> None:
    parsed = parse_mail(mail(f"Subject: =?{charset}?Q?halo_=C3=A9?="))
    assert parsed.subject == "halo é"
    assert any(d.startswith("unknown charset") for d in parsed.defects)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Mon, 23 Nov 2026 10:15:00 +0700", datetime(2026, 11, 23, 10, 15, tzinfo=timezone(timedelta(hours=7)))),
        ("23 Nov 2026 03:15:00 GMT", datetime(2026, 11, 23, 3, 15, tzinfo=timezone.utc)),
        ("Mon, 23 Nov 2026 10:15:00 -0000", datetime(2026, 11, 23, 10, 15, tzinfo=timezone.utc)),
        ("Sen, 23 Des 2026 10:15:00 +0700", datetime(2026, 12, 23, 10, 15, tzinfo=timezone(timedelta(hours=7)))),
        ("Rab, 27 Mei 2026 08:00:00 +0700", datetime(2026, 5, 27, 8, 0, tzinfo=timezone(timedelta(hours=7)))),
        ("kemarin sore", None),
        ("Mon, 23 Nov 2026 10:15:00 +9999", None),
        ("Mon, 99 Nov 2026 10:15:00 +0700", None),
        ("", None),
    ],
)
def test_dates(header: str, expected: datetime | None) -> None:
    parsed = parse_mail(mail(f"Date: {header}"))
    assert parsed.date == expected
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


def test_references_and_in_reply_to() -> None:
    parsed = parse_mail(
        mail(
            "In-Reply-To: <b@x.example> (pesan Budi)\n"
            "References: <a@x.example>\n <b@x.example>  <a@x.example>\n"
            "References: <c@x.example>"
        )
    )
    assert parsed.in_reply_to == ("b@x.example",)
    assert parsed.references == ("a@x.example", "b@x.example", "c@x.example")
    assert parsed.thread_ids == ("b@x.example", "c@x.example", "a@x.example")


def test_ids_without_brackets_are_accepted() -> None:
    assert parse_mail(mail("In-Reply-To: abc@x.example")).in_reply_to == ("abc@x.example",)
    assert parse_mail(mail("In-Reply-To: bukan id")).in_reply_to == ()


def test_references_cap_keeps_root_and_latest() -> None:
    ids = " ".join(f"<r{i}@x>" for i in range(300))
    parsed = parse_mail(mail(f"References: {ids}"))
    assert len(parsed.references) == 100
    assert parsed.references[0] == "r0@x"
    assert parsed.references[1] == "r201@x"
    assert parsed.references[-1] == "r299@x"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("X-Mailbot-Hops: 4", 4),
        ("X-Mailbot-Hops:  7 ", 7),
        ("X-Mailbot-Hops: banyak", 0),
        ("X-Mailbot-Hops: -3", 0),
        ("X-Mailbot-Hops: 99999999999", 0),
        ("X-Mailbot-Hops: 1\nX-Mailbot-Hops: 5", 5),
        ("X-Other: 1", 0),
    ],
)
def test_hops(headers: str, expected: int) -> None:
    assert parse_mail(mail(headers)).x_mailbot_hops == expected


def test_loop_headers_are_copied_raw() -> None:
    parsed = parse_mail(
        mail(
            "Auto-Submitted: auto-generated\nPrecedence: junk\nList-Id: <daftar.x.example>\n"
            "X-Auto-Response-Suppress: OOF, AutoReply\nX-Mailbot-Ticket: LPSE-2026-0001\n"
            "Return-Path: <>\nDelivered-To: A@X.example\nX-Original-To: b@x.example\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b"
        ),
    )
    assert parsed.auto_submitted == "auto-generated"
    assert parsed.precedence == "junk"
    assert parsed.list_id == "<daftar.x.example>"
    assert parsed.x_auto_response_suppress == "OOF, AutoReply"
    assert parsed.x_mailbot_ticket == "LPSE-2026-0001"
    assert parsed.return_path == "<>"
    assert parsed.delivered_to == ("a@x.example", "b@x.example")
    assert parsed.content_type == "multipart/report"


# ---------------------------------------------------------------------------------------
# Bodies and attachments
# ---------------------------------------------------------------------------------------


def test_text_line_endings_and_nul() -> None:
    raw = b"From: a@x.example\r\nContent-Type: text/plain\r\n\r\nsatu\r\ndua\rtiga\x00\nempat\r\n"
    assert parse_mail(raw).text == "satu\ndua\ntiga\nempat"


def test_empty_plain_alternative_uses_html() -> None:
    raw = mail(
        'Content-Type: multipart/alternative; boundary="b"',
        "--b\nContent-Type: text/plain\n\n\n--b\nContent-Type: text/html\n\n<p>Halo <b>Pak</b></p>\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Halo Pak"
    assert parsed.html == "<p>Halo <b>Pak</b></p>"
    assert parsed.attachments == ()


def test_text_split_around_inline_image_is_joined() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nSebelum gambar.\n"
        "--b\nContent-Type: image/png\nContent-Disposition: inline\n\nPNG\n"
        "--b\nContent-Type: text/plain\n\nSesudah gambar.\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Sebelum gambar.\n\nSesudah gambar."
    assert [(a.filename, a.inline) for a in parsed.attachments] == [("attachment-1.png", True)]


def test_text_attachment_with_filename_is_an_attachment() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nBadan.\n"
        '--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename="log.txt"\n\nbaris log\n--b--\n',
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Badan."
    assert [(a.filename, a.content) for a in parsed.attachments] == [("log.txt", b"baris log")]


@pytest.mark.parametrize("charset", ["idna", "unicode_escape", "x-unknown", "zlib_codec"])
def test_body_charset_refused_is_guessed(charset: str) -> None:
    raw = mail(f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit", "Halo \\u0041 é\n")
    parsed = parse_mail(raw)
    assert parsed.text == "Halo \\u0041 é"


def test_mislabelled_ascii_body_is_guessed() -> None:
    raw = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHarga \x96 murah\r\n"
    assert parse_mail(raw).text == "Harga \u2013 murah"


def test_bad_base64_body_does_not_raise() -> None:
    raw = mail("Content-Type: text/plain\nContent-Transfer-Encoding: base64", "SGFsbyB!!!QYWs=\n====\n")
    parsed = parse_mail(raw)
    assert isinstance(parsed.text, str)


def test_dsn_keeps_returned_mail_as_attachment_only() -> None:
    raw = mail(
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        "--b\nContent-Type: text/plain\n\nGagal terkirim.\n"
        "--b\nContent-Type: message/rfc822\n\nSubject: asli\nFrom: bot@x.example\n\nIsi asli.\n--b--\n",
    )
    parsed = parse_mail(raw)
    assert parsed.text == "Gagal terkirim."
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


def test_extremely_deep_nesting_does_not_raise() -> None:
    body = "Content-Type: text/plain\n\nterdalam\n"
    for level in range(3000):
        body = f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n{body}\n--b{level}--\n'
    raw = ("From: a@x.example\nMessage-ID: <deep@x>\n" + body).replace("\n", "\r\n").encode()
    parsed = parse_mail(raw)
    assert parsed.message_id == "deep@x"
    assert parsed.from_addr == "a@x.example"
    assert parsed.defects  # recorded, whichever limit was hit


def test_deeply_nested_forwards_are_capped() -> None:
    inner = "From: x@x.example\nSubject: dalam\n\nteks paling dalam\n"
    for level in range(60):
        inner = f"From: f{level}@x.example\nSubject: fwd {level}\nContent-Type: message/rfc822\n\n{inner}"
    raw = mail("From: a@x.example\nContent-Type: multipart/mixed; boundary=b", f"--b\n{inner}\n--b--\n")
    parsed = parse_mail(raw)
    assert any("MIME nesting deeper than" in d for d in parsed.defects)


def test_attachment_size_is_decoded_size() -> None:
    raw = mail(
        'Content-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nx\n"
        '--b\nContent-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: base64\n\n'
        "JVBERi0xLjQK\n--b--\n",
    )
    (att,) = parse_mail(raw, max_attachment_bytes=8).attachments
    assert (att.filename, att.size, att.content) == ("a.pdf", 9, None)
    (att,) = parse_mail(raw, max_attachment_bytes=9).attachments
    assert att.content == b"%PDF-1.4\n"


# ---------------------------------------------------------------------------------------
# Reply text
# ---------------------------------------------------------------------------------------

REPLY_CASES: list[tuple[str, str, str]] = [
    (
        "gmail_id_one_line",
        "Sudah bisa.\n\nPada Sen, 23 Nov 2026 pukul 10.15 Helpdesk <h@x.example> menulis:\n> lama\n",
        "Sudah bisa.",
    ),
    (
        "gmail_id_two_lines",
        "Sudah bisa.\n\nPada Sen, 23 Nov 2026 pukul 10.15 Helpdesk LPSE <h@x.example>\nmenulis:\n\n> lama\n",
        "Sudah bisa.",
    ),
    (
        "gmail_id_three_lines",
        "Oke.\n\nPada Sen, 23 Nov 2026 pukul 10.15 Helpdesk Layanan Pengadaan Secara\nElektronik Kabupaten "
        "Contoh <\nhelpdesk@lpse.example> menulis:\n> lama\n",
        "Oke.",
    ),
    (
        "pada_tanggal",
        "Terlampir.\n\nPada tanggal 23/11/2026 10:15, Helpdesk <h@x.example> menulis:\n> lama\n",
        "Terlampir.",
    ),
    (
        "gmail_en_wrapped",
        "Done.\n\nOn Mon, Nov 23, 2026 at 10:15 AM Helpdesk <\nh@x.example> wrote:\n\n> old\n",
        "Done.",
    ),
    (
        "attribution_without_quotes",
        "Baik.\n\nOn 23/11/2026 10:15, Helpdesk wrote:\nold text not quoted\n",
        "Baik.",
    ),
    ("plain_quote", "Jawaban saya.\n> pertanyaan\n> lagi\n", "Jawaban saya."),
    ("named_attribution_before_quote", "Ya.\n\nHelpdesk LPSE menulis:\n> lama\n", "Ya."),
    ("original_message", "Ok.\n\n-----Original Message-----\nFrom: h@x.example\nlama\n", "Ok."),
    ("pesan_asli", "Ok.\n\n-----Pesan Asli-----\nDari: h@x.example\nlama\n", "Ok."),
    (
        "outlook_en_block",
        "Thanks.\n\nFrom: Helpdesk <h@x.example>\nSent: Monday, November 23, 2026 10:15 AM\nTo: b@x.example\n"
        "Subject: RE: x\n\nold\n",
        "Thanks.",
    ),
    (
        "outlook_bold_block",
        "Thanks.\n\n*From:* Helpdesk <h@x.example>\n*Sent:* Monday, 23 Nov 2026 10:15\n*To:* b@x.example\nold\n",
        "Thanks.",
    ),
    (
        "outlook_id_block",
        "Siap.\n\nDari: Helpdesk <h@x.example>\nDikirim: Senin, 23 November 2026 10.15\nKepada: b@x.example\n"
        "Subjek: RE: x\n\nlama\n",
        "Siap.",
    ),
    ("underscores", "Siap.\n________________________________\napa saja\n", "Siap."),
    ("signature", "Isi.\n\n-- \nBudi\n0812\n", "Isi."),
    ("signature_no_space", "Isi.\n--\nBudi\n", "Isi."),
    ("mobile_signature", "Isi.\n\nSent from my iPhone\n", "Isi."),
    ("mobile_signature_id", "Isi.\n\nDikirim dari iPhone saya\n", "Isi."),
    ("mobile_signature_outlook_id", "Isi.\n\nDapatkan Outlook untuk Android\n", "Isi."),
    ("mobile_signature_hp", "Isi.\n\nDikirim dari HP Xiaomi saya\n", "Isi."),
    (
        "interleaved",
        "On 23/11/2026 10:15, Helpdesk wrote:\n> Kode tender?\n123\n> Nama?\nPT X\n\n-- \nBudi\n",
        "123\nPT X",
    ),
    ("only_quotes", "> semuanya kutipan\n> saja\n", ""),
    # Content that merely looks a bit like history stays.
    ("wrote_in_sentence", "I wrote to the committee yesterday.\nThey wrote back: no.\n", None),
    ("menulis_in_sentence", "Pada hari Senin saya menulis:\nmohon dibuka.\n", None),
    ("on_monday", "On Monday I wrote:\nthe code is 123\n", None),
    ("on_monday_then_address", "On Monday I wrote:\nmy email is budi@x.example\nplease reply\n", None),
    ("letter_header", "Kepada: Yth. Admin LPSE\nDari: PT Maju Jaya\nPerihal: Reset password\n\nMohon reset.\n", None),
    ("date_subject_lines", "Berikut data saya:\nDate: 23/11/2026\nSubject: Tender 123\nMohon dibantu.\n", None),
    ("arrow_in_text", "Menu Paket -> Tender -> Upload\nlalu error.\n", None),
    ("dash_list", "Masalah:\n- tidak bisa login\n- captcha error\n", None),
    ("indentation_kept", "Log:\n    at line 1\n    at line 2\nselesai\n", None),
    ("separator_line_kept", "Data:\n--------------------------------\nkode 123\n", None),
    (
        "inline_forward_kept",
        "Mohon dicek.\n\n---------- Forwarded message ---------\nFrom: Pokja <p@x.example>\n"
        "Date: Sen, 23 Nov 2026 pukul 08.00\nSubject: Undangan\nTo: <b@x.example>\n\nIsi undangan.\n",
        None,
    ),
    (
        "forward_then_history",
        "Lihat.\n\n---------- Forwarded message ---------\nFrom: Pokja <p@x.example>\nDate: Sen, 23 Nov 2026\n\n"
        "Isi.\n\nPada Sen, 23 Nov 2026 pukul 10.15 Budi <b@x.example> menulis:\n> lama\n",
        "Lihat.\n\n---------- Forwarded message ---------\nFrom: Pokja <p@x.example>\nDate: Sen, 23 Nov 2026\n\nIsi.",
    ),
    # Issue 21: other clients' and languages' markers cut; the user's sentences that end
    # like an attribution do not.
    (
        "zoho_dashed",
        "Kode 123.\n\n---- On Mon, 23 Nov 2026 10:15:20 +0700 H <h@x.example> wrote ----\nlama\n",
        "Kode 123.",
    ),
    (
        "italian_block",
        "Ecco.\nDa: H <h@x.example>\nInviato: lunedì 23 novembre 2026 10:15\nA: b@x.example\nOggetto: x\n\nvecchio\n",
        "Ecco.",
    ),
    ("dutch_gmail", "Ja.\n\nOp ma 23 nov. 2026 om 10:15 schreef H <h@x.example>:\n\n> oud\n", "Ja."),
    (
        "signoff_below_quote",
        "Ya.\n\nPada Sen, 23 Nov 2026 pukul 10.15 H <h@x.example> menulis:\n> lama\n\nSalam, Budi\n",
        "Ya.\n\nSalam, Budi",
    ),
    ("system_menulis_in_sentence", 'Jam 10.15 sistem menulis:\n"Sesi berakhir"\nMohon dibantu.\n', None),
    ("error_quoted_after_time", "Tanggal 23/11/2026 jam 10.15 muncul tulisan:\nGagal upload\n", None),
    # mail-parser-reply's Outlook header pattern catches a block without a From line.
    ("library_block", "Noted.\n\nSent: Monday, 23 Nov 2026 10:15\nTo: helpdesk@x.example\nSubject: RE: x\n\nold\n", "Noted."),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in REPLY_CASES], ids=[c[0] for c in REPLY_CASES])
def test_extract_new_text(text: str, expected: str | None) -> None:
    assert extract_new_text(text) == (text.strip() if expected is None else expected)


def test_extract_new_text_crlf() -> None:
    assert extract_new_text("Ya.\r\n\r\n> lama\r\n") == "Ya."


def test_forward_without_comment_keeps_the_forwarded_text() -> None:
    body = "________________________________\nFrom: Pokja <p@x.example>\nSent: Monday, 23 Nov 2026 10:15\n" \
        "To: b@x.example\nSubject: Undangan\n\nIsi undangan.\n"
    parsed = parse_mail(mail("From: b@x.example\nSubject: FW: Undangan", body))
    assert parsed.new_text == parsed.text
    assert "Isi undangan." in parsed.new_text


def test_forward_with_a_comment_keeps_the_forwarded_mail_below_it() -> None:
    # Outlook (Indonesian UI) forwards like it replies: underscores, then Dari/Terkirim/Kepada/Perihal
    body = ("Mohon dibantu, masalah rekan kami di bawah.\n\nKasubbag PBJ\n\n"
            "________________________________\nDari: Andi <andi@x.example>\nTerkirim: Senin, 14 Desember 2026 07:45\n"
            "Kepada: Kasubbag <k@x.example>\nPerihal: Menu upload hilang\n\n"
            "Tender kode 10452290000, menu upload BA sudah hilang.\n\nAndi\n")
    forwarded = parse_mail(mail("From: k@x.example\nSubject: FW: Menu upload hilang", body))
    assert forwarded.new_text.startswith("Mohon dibantu, masalah rekan kami di bawah.")
    assert "Tender kode 10452290000, menu upload BA sudah hilang." in forwarded.new_text
    assert "Terkirim:" not in forwarded.new_text
    # the same block under a reply's subject is history, as before
    reply = parse_mail(mail("From: k@x.example\nSubject: RE: Menu upload hilang", body))
    assert "10452290000" not in reply.new_text


def test_html_only_outlook_reply() -> None:
    html = (
        "<div>Sudah kami lengkapi.</div><div><br></div><div>Rudi</div>"
        '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>From:</b> Helpdesk '
        "&lt;h@x.example&gt;<br><b>Sent:</b> Monday, November 23, 2026 10:15 AM<br><b>To:</b> r@x.example<br>"
        "<b>Subject:</b> RE: data</div><div>Mohon lengkapi data.</div>"
    )
    parsed = parse_mail(mail("From: r@x.example\nContent-Type: text/html; charset=utf-8", html))
    assert parsed.new_text == "Sudah kami lengkapi.\n\nRudi"
    assert "Mohon lengkapi data." in parsed.text


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Satu<br>Dua<br/>Tiga", "Satu\nDua\nTiga"),
        ("<p>Satu</p><p>Dua</p>", "Satu\n\nDua"),
        ("<div>Satu</div><div>Dua</div>", "Satu\nDua"),
        ("<div>Satu</div><div><br></div><div>Dua</div>", "Satu\n\nDua"),
        # &nbsp; is a space that HTML does not collapse (Gmail indents with it).
        ("A &amp; B &lt;c&gt; &quot;d&quot; &#8211; &nbsp;e", 'A & B <c> "d" –  e'),
        ("<b>tebal</b>   dan\n\n  <i>miring</i>", "tebal dan miring"),
        ("<head><title>Judul</title><style>p{}</style></head><body>Isi</body>", "Isi"),
        ("<script>alert(1)</script>Isi<style>.x{}</style>", "Isi"),
        ("<ul><li>satu</li><li>dua</li></ul>", "- satu\n- dua"),
        ("<table><tr><td>Kode</td><td>123</td></tr><tr><td>Nama</td><td>PT X</td></tr></table>", "Kode 123\nNama PT X"),
        ("Balas<blockquote>kutip<br>dua</blockquote>", "Balas\n> kutip\n> dua"),
        ("<blockquote>a<blockquote>b</blockquote></blockquote>", "> a\n> > b"),
        ("<pre>  baris 1\n    baris 2</pre>", "baris 1\n    baris 2"),
        ("<a href='https://x.example'>tautan</a>", "tautan"),
        ("<head><meta charset=utf-8><body>Isi", "Isi"),  # unclosed <head>
        ("<title>tanpa penutup<body>Isi", ""),  # unclosed <title> swallows the rest, as in browsers
        ('<a title="x>y" href=\'a>b\'>tautan</a> <b class=x>tebal</b>', "tautan tebal"),
        ("a < b dan 3 <3 tapi <!-- x --> &lt;tag&gt;", "a < b dan 3 <3 tapi &lt;tag&gt;".replace("&lt;", "<").replace("&gt;", ">")),
        ("<p>satu<!-->dua<!--->tiga</p>", "satudua" + "tiga"),
        ("<script>var s = '</div>';</script>Isi", "Isi"),
        ("<ScRiPt>x</sCrIpT >Isi<STYLE>y</STYLE>", "Isi"),
        ("<p a='unclosed>Isi", ""),
        ("<p>tidak ditutup<div>blok", "tidak ditutup\nblok"),
        ("<!-- komentar -->Isi<!--[if mso]>x<![endif]-->", "Isi"),
        ("", ""),
        ("<<<>>>", "<<<>>>"),
        ("<![CDATA[x]]>Isi", "Isi"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_sanitize_html_removes_active_content() -> None:
    dirty = (
        '<p onclick="steal()">Halo <a href="javascript:alert(1)">klik</a> '
        '<a href="https://lpse.example/x" target="_blank">aman</a>'
        '<img src="x" onerror="alert(1)"><img src="https://tracker.example/p.gif">'
        '<img src="cid:image001@x" alt="gambar">'
        "<script>alert(1)</script><style>body{}</style><iframe src='https://x'></iframe>"
        '<form action="https://x"><input name="p"></form><a href="data:text/html,x">data</a>'
        '<svg onload="alert(1)"><circle/></svg><span style="background:url(javascript:x)">s</span></p>'
    )
    clean = sanitize_html(dirty)
    for bad in ("onclick", "javascript:", "onerror", "tracker.example", "<script", "alert(1)", "<style",
                "<iframe", "<form", "<input", "data:text", "<svg", "onload", "style="):
        assert bad not in clean, bad
    assert '<a href="https://lpse.example/x" rel="noopener noreferrer nofollow">aman</a>' in clean
    assert 'src="cid:image001@x"' in clean
    assert "Halo" in clean and "klik" in clean


def test_hostile_markup_stays_fast() -> None:
    # Regressions: html.parser (CPython 3.11) is quadratic on unclosed tags, html5ever on
    # deep nesting and on many open formatting elements. Each of these took minutes.
    assert html_to_text("<a " * 300_000) == ""
    assert html_to_text("<div><p>x<blockquote>" * 30_000).count("\n") >= 30_000
    for hostile in ("<blockquote>" * 30_000, "".join(f"<b id={i}>" for i in range(30_000))):
        out = sanitize_html(hostile + "<script>alert(1)</script>isi")
        assert out.startswith("<pre>") and out.endswith("isi</pre>") and "<script" not in out


def test_sanitize_html_keeps_formatting() -> None:
    html = "<p><b>tebal</b> <i>miring</i></p><ul><li>satu</li></ul><blockquote>kutip</blockquote>"
    assert sanitize_html(html) == html


# ---------------------------------------------------------------------------------------
# Filenames
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "index", "expected"),
    [
        ("laporan.pdf", "application/pdf", 1, "laporan.pdf"),
        ("../../etc/passwd", "application/octet-stream", 1, "passwd"),
        ("..\\..\\Windows\\evil.exe", "application/octet-stream", 1, "evil.exe"),
        ("C:\\Users\\budi\\Desktop\\scan.jpg", "image/jpeg", 1, "scan.jpg"),
        ("..", "image/gif", 3, "attachment-3.gif"),
        ("...", "image/png", 2, "attachment-2.png"),
        (".htaccess", "text/plain", 1, "htaccess"),
        ("dokumen.pdf. . ", "application/pdf", 1, "dokumen.pdf"),
        ("nul\x00byte.txt", "text/plain", 1, "nulbyte.txt"),
        ("tab\tdan\nbaris.txt", "text/plain", 1, "tab dan baris.txt"),
        ("laporan\u202efdp.exe", "application/pdf", 1, "laporanfdp.exe"),
        ('a<b>c:d"e|f?g*h.txt', "text/plain", 1, "a_b_c_d_e_f_g_h.txt"),
        ("CON.txt", "text/plain", 1, "_CON.txt"),
        ("lpt1", "text/plain", 1, "_lpt1"),
        ("Berita Acara – Paket ✓.pdf", "application/pdf", 1, "Berita Acara – Paket ✓.pdf"),
        (None, "image/png", 4, "attachment-4.png"),
        ("", "application/ms-tnef", 5, "attachment-5.dat"),
        (None, "message/rfc822", 1, "attachment-1.eml"),
        (None, "application/x-unknown-thing", 1, "attachment-1.bin"),
        ("/", "image/jpeg", 1, "attachment-1.jpg"),
        ("bad\udcffsurrogate.txt", "text/plain", 1, "bad_surrogate.txt"),
    ],
)
def test_sanitize_filename(name: str | None, content_type: str, index: int, expected: str) -> None:
    assert sanitize_filename(name, content_type, index) == expected


def test_sanitize_filename_caps_length_and_keeps_extension() -> None:
    result = sanitize_filename("a" * 500 + ".pdf", "application/pdf", 1)
    assert len(result) == 150 and result.endswith(".pdf")
    result = sanitize_filename("x." + "e" * 40, "application/pdf", 1)
    assert len(result) <= 150 and "/" not in result
