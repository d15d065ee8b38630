"""Write the golden corpus for tests/unit/test_parse_golden.py: NAME.eml + NAME.json.

Every mail here was written for this project (Indonesian SPSE/LPSE helpdesk traffic);
none is copied from another project. The expected values in each JSON file are written by
hand below; this script never imports ``mailbot``, so the corpus cannot silently follow
the parser. Attachment sizes and hash ids are computed from the bytes written here.

Run from the repository root after editing a case, and commit the .eml/.json files:

    .venv/bin/python tests/data/eml/make_corpus.py

JSON keys (all optional; test_parse_golden.py documents the comparison):
  plain fields of InboundMail (message_id, from_addr, subject, text, new_text, ...),
  date as ISO 8601, attachments as a list of {filename, content_type, size, inline,
  has_content}, text_contains / text_not_contains / new_text_not_contains /
  html_contains / defects_contains (lists of substrings), html_is_none,
  subject_length, references_count / references_first / references_last,
  max_attachment_bytes (passed to parse_mail).
"""

from __future__ import annotations

import base64
import hashlib
import json
import quopri
import struct
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HELPDESK = "helpdesk@lpse-demo.example"

Case = tuple[bytes, dict[str, Any]]


def crlf(text: str) -> bytes:
    """Mail as IMAP hands it over: CRLF line ends, UTF-8 where 8-bit is used."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def b64(data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def png(width: int, height: int, seed: int) -> bytes:
    """A small valid PNG (a deterministic colour pattern), like a cropped screenshot."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 13 + seed) % 256 for x in range(width * 3)) for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


PNG_SCREENSHOT = png(40, 24, 3)
PNG_INLINE = png(16, 16, 99)
JPEG_FAKE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(200)) + b"\xff\xd9"
PDF_FAKE = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TNEF_FAKE = b"\x78\x9f\x3e\x22" + b"\x01\x06\x90\x08\x00" + bytes((i * 31) % 256 for i in range(300))
BIG_ZIP = b"PK\x03\x04" + bytes((i * 17 + 5) % 256 for i in range(9996))
SMALL_TXT = b"Kode tender: 10023456\nNama paket: Rehabilitasi Gedung Kantor\n"


def att(filename: str, content_type: str, data: bytes, inline: bool = False, has_content: bool = True) -> dict[str, Any]:
    return {
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "inline": inline,
        "has_content": has_content,
    }


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------

PLAIN_BODY = """Selamat pagi Bapak/Ibu Helpdesk LPSE,

Kami dari PT Maju Jaya Konstruksi tidak bisa mengunggah dokumen penawaran
untuk paket "Pembangunan Jalan Lingkar Desa" (kode tender 10023456).
Muncul pesan "Gagal mengunggah file, silakan coba lagi".

Sudah dicoba dengan Chrome dan Firefox, hasilnya sama.
Mohon bantuannya, batas waktu penawaran besok pukul 15.00 WIB.

Hormat kami,
Budi Santoso
PT Maju Jaya Konstruksi
0812-3456-7890"""


def plain_new_vendor() -> Case:
    raw = crlf(
        f"""Return-Path: <budi.santoso@majujaya.example>
Delivered-To: {HELPDESK}
Received: from mail.majujaya.example (mail.majujaya.example [192.0.2.10])
\tby mx.lpse-demo.example (Postfix) with ESMTPS id 4Xyz123
\tfor <{HELPDESK}>; Mon, 23 Nov 2026 09:12:45 +0700 (WIB)
From: Budi Santoso <Budi.Santoso@MajuJaya.example>
To: Helpdesk LPSE <{HELPDESK}>
Cc: direksi@majujaya.example
Subject: Tidak bisa upload dokumen penawaran tender 10023456
Date: Mon, 23 Nov 2026 09:12:44 +0700
Message-ID: <CAF1234567890abcdef@mail.majujaya.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

{PLAIN_BODY}
"""
    )
    return raw, {
        "message_id": "CAF1234567890abcdef@mail.majujaya.example",
        "from_addr": "budi.santoso@majujaya.example",
        "from_name": "Budi Santoso",
        "to": [HELPDESK],
        "cc": ["direksi@majujaya.example"],
        "subject": "Tidak bisa upload dokumen penawaran tender 10023456",
        "date": "2026-11-23T09:12:44+07:00",
        "in_reply_to": [],
        "references": [],
        "text": PLAIN_BODY,
        "new_text": PLAIN_BODY,
        "html_is_none": True,
        "attachments": [],
        "delivered_to": [HELPDESK],
        "return_path": "<budi.santoso@majujaya.example>",
        "content_type": "text/plain",
        "auto_submitted": "",
        "x_mailbot_hops": 0,
        "defects": [],
    }


def gmail_reply_id() -> Case:
    plain = """Terima kasih Pak, setelah hapus cache browser sekarang sudah bisa upload.

Salam,
Siti

Pada Sen, 23 Nov 2026 pukul 10.15 Helpdesk LPSE <helpdesk@lpse-demo.example>
menulis:

> Yth. Ibu Siti,
>
> Silakan hapus cache browser lalu coba unggah kembali.
>
> Salam,
> Helpdesk LPSE
>
"""
    html = (
        '<div dir="ltr">Terima kasih Pak, setelah hapus cache browser sekarang sudah bisa upload.'
        "<div><br></div><div>Salam,</div><div>Siti</div></div><br>"
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">Pada Sen, 23 Nov 2026 pukul 10.15 '
        'Helpdesk LPSE &lt;<a href="mailto:helpdesk@lpse-demo.example">helpdesk@lpse-demo.example</a>&gt; '
        'menulis:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        'border-left:1px solid rgb(204,204,204);padding-left:1ex">Yth. Ibu Siti,<br><br>'
        "Silakan hapus cache browser lalu coba unggah kembali.<br><br>Salam,<br>Helpdesk LPSE"
        "</blockquote></div>\n"
    )
    raw = crlf(
        f"""MIME-Version: 1.0
References: <ticket-LPSE-2026-0042.1@lpse-demo.example> <reply-LPSE-2026-0042.2@lpse-demo.example>
In-Reply-To: <reply-LPSE-2026-0042.2@lpse-demo.example>
From: Siti Aminah <siti.aminah@gmail.example>
Date: Mon, 23 Nov 2026 11:02:10 +0700
Message-ID: <CAJx9pQ1m2n3o4p5q6r7s8t9u0v=Ab-Cd_Ef@mail.gmail.example>
Subject: Re: [LPSE-2026-0042] Tidak bisa upload dokumen
To: Helpdesk LPSE <{HELPDESK}>
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f60718"

--000000000000a1b2c3d4e5f60718
Content-Type: text/plain; charset="UTF-8"

{plain}
--000000000000a1b2c3d4e5f60718
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

{qp(html)}
--000000000000a1b2c3d4e5f60718--
"""
    )
    return raw, {
        "message_id": "CAJx9pQ1m2n3o4p5q6r7s8t9u0v=Ab-Cd_Ef@mail.gmail.example",
        "from_addr": "siti.aminah@gmail.example",
        "from_name": "Siti Aminah",
        "subject": "Re: [LPSE-2026-0042] Tidak bisa upload dokumen",
        "in_reply_to": ["reply-LPSE-2026-0042.2@lpse-demo.example"],
        "references": ["ticket-LPSE-2026-0042.1@lpse-demo.example", "reply-LPSE-2026-0042.2@lpse-demo.example"],
        "new_text": "Terima kasih Pak, setelah hapus cache browser sekarang sudah bisa upload.\n\nSalam,\nSiti",
        "text_contains": ["> Silakan hapus cache browser lalu coba unggah kembali."],
        "html_contains": ['<blockquote class="gmail_quote"', "Helpdesk LPSE &lt;"],
        "attachments": [],
        "content_type": "multipart/alternative",
    }


def gmail_reply_en() -> Case:
    body = """Hello, I tried again and the error still appears.
I wrote to the committee yesterday as well, but there is no answer yet.

Regards,
John Tan

On Mon, Nov 23, 2026 at 10:15 AM Helpdesk LPSE <
helpdesk@lpse-demo.example> wrote:

> Dear Mr. Tan,
>
> Please clear the browser cache and upload the bid document again.
>
> On Sun, Nov 22, 2026 at 8:01 PM John Tan <john.tan@globalbuild.example>
> wrote:
>
>> The upload of the bid fails.
"""
    raw = crlf(
        f"""MIME-Version: 1.0
From: John Tan <john.tan@globalbuild.example>
To: {HELPDESK}
Subject: Re: [LPSE-2026-0045] Bid upload error
Date: Mon, 23 Nov 2026 13:40:00 +0800
Message-ID: <CAB7en+reply-0001@mail.gmail.example>
In-Reply-To: <reply-LPSE-2026-0045.2@lpse-demo.example>
References: <ticket-LPSE-2026-0045.1@lpse-demo.example>
 <reply-LPSE-2026-0045.2@lpse-demo.example>
Content-Type: text/plain; charset="UTF-8"

{body}"""
    )
    return raw, {
        "message_id": "CAB7en+reply-0001@mail.gmail.example",
        "from_addr": "john.tan@globalbuild.example",
        "date": "2026-11-23T13:40:00+08:00",
        "references": ["ticket-LPSE-2026-0045.1@lpse-demo.example", "reply-LPSE-2026-0045.2@lpse-demo.example"],
        "in_reply_to": ["reply-LPSE-2026-0045.2@lpse-demo.example"],
        "new_text": (
            "Hello, I tried again and the error still appears.\n"
            "I wrote to the committee yesterday as well, but there is no answer yet.\n\n"
            "Regards,\nJohn Tan"
        ),
        "html_is_none": True,
    }


def outlook_reply_original() -> Case:
    body = """Baik Pak, terima kasih atas informasinya.
Kami akan mencoba kembali nanti sore.

Regards,
Andi Wijaya
CV Sinar Abadi

-----Original Message-----
From: Helpdesk LPSE <helpdesk@lpse-demo.example>
Sent: Monday, November 23, 2026 10:15 AM
To: andi@sinarabadi.example
Subject: RE: [LPSE-2026-0043] Lupa password akun SPSE

Yth. Bapak Andi,

Permintaan reset password sudah kami proses. Silakan cek email Anda.

Salam,
Helpdesk LPSE
"""
    raw = crlf(
        f"""From: "Andi Wijaya" <andi@sinarabadi.example>
To: "'Helpdesk LPSE'" <{HELPDESK}>
References: <ticket-LPSE-2026-0043.1@lpse-demo.example>
In-Reply-To: <ticket-LPSE-2026-0043.1@lpse-demo.example>
Subject: RE: [LPSE-2026-0043] Lupa password akun SPSE
Date: Mon, 23 Nov 2026 10:47:31 +0700
Message-ID: <000001db3d2a$5f0e1c20$1d2a5460$@sinarabadi.example>
MIME-Version: 1.0
Content-Type: text/plain;
\tcharset="us-ascii"
Content-Transfer-Encoding: 7bit
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AQHbPSpeDhwgHSpUYA==
Content-Language: id

{body}"""
    )
    return raw, {
        "message_id": "000001db3d2a$5f0e1c20$1d2a5460$@sinarabadi.example",
        "from_addr": "andi@sinarabadi.example",
        "from_name": "Andi Wijaya",
        "to": [HELPDESK],
        "new_text": (
            "Baik Pak, terima kasih atas informasinya.\nKami akan mencoba kembali nanti sore.\n\n"
            "Regards,\nAndi Wijaya\nCV Sinar Abadi"
        ),
        "text_contains": ["-----Original Message-----", "Permintaan reset password sudah kami proses."],
    }


def outlook_reply_id() -> Case:
    plain = """Dengan hormat,

Akun kami sudah aktif kembali. Terima kasih.

Dewi

________________________________
Dari: Helpdesk LPSE <helpdesk@lpse-demo.example>
Dikirim: Senin, 23 November 2026 10.15
Kepada: Dewi Lestari <dewi@cahayaprima.example>
Subjek: RE: [LPSE-2026-0044] Akun terkunci

Yth. Ibu Dewi,

Akun Anda sudah kami buka kembali.

Salam,
Helpdesk LPSE
"""
    html = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head>
<body dir="ltr"><div class="elementToProof">Dengan hormat,</div><div><br></div>
<div>Akun kami sudah aktif kembali. Terima kasih.</div><div><br></div><div>Dewi</div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt"><b>Dari:</b> Helpdesk LPSE &lt;helpdesk@lpse-demo.example&gt;<br>
<b>Dikirim:</b> Senin, 23 November 2026 10.15<br><b>Kepada:</b> Dewi Lestari &lt;dewi@cahayaprima.example&gt;<br>
<b>Subjek:</b> RE: [LPSE-2026-0044] Akun terkunci</font><div>&nbsp;</div></div>
<div>Yth. Ibu Dewi,<br><br>Akun Anda sudah kami buka kembali.<br><br>Salam,<br>Helpdesk LPSE</div></body></html>
"""
    raw = crlf(
        f"""From: Dewi Lestari <dewi@cahayaprima.example>
To: Helpdesk LPSE <{HELPDESK}>
Subject: RE: [LPSE-2026-0044] Akun terkunci
Thread-Topic: [LPSE-2026-0044] Akun terkunci
Date: Mon, 23 Nov 2026 03:31:02 +0000
Message-ID: <SG2PR01MB1234ABCD5678EF90@SG2PR01MB1234.apcprd01.prod.outlook.example>
References: <ticket-LPSE-2026-0044.1@lpse-demo.example>
In-Reply-To: <ticket-LPSE-2026-0044.1@lpse-demo.example>
Content-Language: id-ID
MIME-Version: 1.0
Content-Type: multipart/alternative;
\tboundary="_000_SG2PR01MB1234ABCD5678EF90_"

--_000_SG2PR01MB1234ABCD5678EF90_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

{b64(plain.encode("utf-8"))}

--_000_SG2PR01MB1234ABCD5678EF90_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

{qp(html)}
--_000_SG2PR01MB1234ABCD5678EF90_--
"""
    )
    return raw, {
        "message_id": "SG2PR01MB1234ABCD5678EF90@SG2PR01MB1234.apcprd01.prod.outlook.example",
        "date": "2026-11-23T03:31:02+00:00",
        "new_text": "Dengan hormat,\n\nAkun kami sudah aktif kembali. Terima kasih.\n\nDewi",
        "text_contains": ["Dikirim: Senin, 23 November 2026 10.15"],
        "html_contains": ['<div id="divRplyFwdMsg"'],
        "attachments": [],
    }


def thunderbird_reply_quotes() -> Case:
    body = """Sudah saya coba, tetapi tombol "Kirim Penawaran" tetap tidak aktif.
Kode paket: 10023499

-- 
Rudi Hartono
PT Karya Mandiri
Telp. 021-5551234

Pada 23/11/2026 10.15, Helpdesk LPSE menulis:
> Yth. Bapak Rudi,
>
> Mohon pastikan menggunakan aplikasi versi terbaru.
>
>> Tombol kirim penawaran tidak aktif.
"""
    raw = crlf(
        f"""Message-ID: <8f2c1a7e-3b4d-4e5f-9a0b-1c2d3e4f5a6b@karyamandiri.example>
Date: Mon, 23 Nov 2026 10:30:12 +0700
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Re: [LPSE-2026-0046] Tombol kirim penawaran tidak aktif
To: Helpdesk LPSE <{HELPDESK}>
References: <ticket-LPSE-2026-0046.1@lpse-demo.example>
 <reply-LPSE-2026-0046.2@lpse-demo.example>
From: Rudi Hartono <rudi@karyamandiri.example>
In-Reply-To: <reply-LPSE-2026-0046.2@lpse-demo.example>
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

{body}"""
    )
    return raw, {
        "message_id": "8f2c1a7e-3b4d-4e5f-9a0b-1c2d3e4f5a6b@karyamandiri.example",
        "from_addr": "rudi@karyamandiri.example",
        "new_text": 'Sudah saya coba, tetapi tombol "Kirim Penawaran" tetap tidak aktif.\nKode paket: 10023499',
        "text_contains": ["Telp. 021-5551234", ">> Tombol kirim penawaran tidak aktif."],
    }


def thunderbird_bottom_post() -> Case:
    body = """Pada 23/11/2026 10.15, Helpdesk LPSE menulis:
> Mohon kirimkan kode tender dan nama perusahaan.

Kode tender: 10023456
Nama perusahaan: PT Karya Mandiri

> Apakah sudah mencoba browser lain?

Sudah, dengan Firefox dan Chrome.

-- 
Rudi Hartono
"""
    raw = crlf(
        f"""Message-ID: <b0770m-p0st-4e5f-9a0b-1c2d3e4f5a6b@karyamandiri.example>
Date: Mon, 23 Nov 2026 10:41:00 +0700
From: Rudi Hartono <rudi@karyamandiri.example>
To: {HELPDESK}
Subject: Re: [LPSE-2026-0046] Data yang diminta
In-Reply-To: <reply-LPSE-2026-0046.3@lpse-demo.example>
Content-Type: text/plain; charset=UTF-8

{body}"""
    )
    return raw, {
        "new_text": (
            "Kode tender: 10023456\nNama perusahaan: PT Karya Mandiri\n\nSudah, dengan Firefox dan Chrome."
        ),
        "in_reply_to": ["reply-LPSE-2026-0046.3@lpse-demo.example"],
    }


def html_only() -> Case:
    html = """<!DOCTYPE html><html><head><title>Kendala</title>
<style>p { color: red; }</style></head><body>
<p>Selamat siang,</p>
<p>Kami mengalami kendala saat <b>verifikasi</b> data kualifikasi &amp; tidak bisa melanjutkan.<br>
Pesan error: &quot;Sesi berakhir&quot;</p>
<ul><li>Browser: Chrome 120</li><li>Kode tender: 10023501</li></ul>
<p>Terima kasih,<br>Rina</p>
<script>alert("x")</script>
</body></html>
"""
    raw = crlf(
        f"""From: Rina Marlina <rina@berkahkarya.example>
To: {HELPDESK}
Subject: Kendala verifikasi kualifikasi
Date: Tue, 24 Nov 2026 13:05:00 +0700
Message-ID: <html-only-0001@berkahkarya.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{qp(html)}"""
    )
    text = (
        "Selamat siang,\n\n"
        "Kami mengalami kendala saat verifikasi data kualifikasi & tidak bisa melanjutkan.\n"
        'Pesan error: "Sesi berakhir"\n\n'
        "- Browser: Chrome 120\n- Kode tender: 10023501\n\n"
        "Terima kasih,\nRina"
    )
    return raw, {
        "text": text,
        "new_text": text,
        "html_contains": ["<b>verifikasi</b>", "<script>"],
        "content_type": "text/html",
        "attachments": [],
    }


def multipart_alternative() -> Case:
    plain = """Yth. Helpdesk,

Mohon informasi mengapa paket dengan Kode RUP 30012345 belum tampil
di daftar tender.

Terima kasih.
Agus"""
    html = (
        "<div>Yth. Helpdesk,<br><br>Mohon informasi mengapa paket dengan <b>Kode RUP 30012345</b> "
        "belum tampil di daftar tender.<br><br>Terima kasih.<br>Agus</div>"
    )
    raw = crlf(
        f"""From: Agus Salim <agus@dutaprima.example>
To: {HELPDESK}
Subject: Paket belum tampil
Date: Tue, 24 Nov 2026 08:00:00 +0700
Message-ID: <alt-0001@dutaprima.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt-boundary-1"

This is a multi-part message in MIME format.

--alt-boundary-1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

{plain}
--alt-boundary-1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

{html}
--alt-boundary-1--
"""
    )
    return raw, {
        "text": plain,
        "new_text": plain,
        "html_contains": ["<b>Kode RUP 30012345</b>"],
        "attachments": [],
        "content_type": "multipart/alternative",
    }


def png_screenshot() -> Case:
    raw = crlf(
        f"""From: Hendra Gunawan <hendra@cvmakmur.example>
To: {HELPDESK}
Subject: Error saat login SPSE (screenshot terlampir)
Date: Tue, 24 Nov 2026 09:30:00 +0700
Message-ID: <png-0001@cvmakmur.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-png-1"

--mixed-png-1
Content-Type: text/plain; charset=utf-8

Selamat pagi, saat login muncul error seperti pada screenshot terlampir.
User ID: cvmakmur01

--mixed-png-1
Content-Type: image/png; name="screenshot error.png"
Content-Disposition: attachment; filename="screenshot error.png"
Content-Transfer-Encoding: base64

{b64(PNG_SCREENSHOT)}
--mixed-png-1--
"""
    )
    return raw, {
        "text": "Selamat pagi, saat login muncul error seperti pada screenshot terlampir.\nUser ID: cvmakmur01",
        "new_text": "Selamat pagi, saat login muncul error seperti pada screenshot terlampir.\nUser ID: cvmakmur01",
        "attachments": [att("screenshot error.png", "image/png", PNG_SCREENSHOT)],
        "content_type": "multipart/mixed",
    }


def inline_image_cid() -> Case:
    raw = crlf(
        f"""From: Lina Kartika <lina@sumberrejeki.example>
To: {HELPDESK}
Subject: Tampilan halaman penawaran berantakan
Date: Tue, 24 Nov 2026 10:00:00 +0700
Message-ID: <cid-0001@sumberrejeki.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer-1"

--outer-1
Content-Type: multipart/related; boundary="related-1"; type="multipart/alternative"

--related-1
Content-Type: multipart/alternative; boundary="alt-1"

--alt-1
Content-Type: text/plain; charset=utf-8

Halaman penawaran tampil seperti ini:
[image: image001.png]
Mohon dicek.

--alt-1
Content-Type: text/html; charset=utf-8

<p>Halaman penawaran tampil seperti ini:</p><p><img src="cid:image001.png@01DB3D2A.5F0E1C20" alt="image001.png"></p><p>Mohon dicek.</p>

--alt-1--

--related-1
Content-Type: image/png; name="image001.png"
Content-ID: <image001.png@01DB3D2A.5F0E1C20>
Content-Transfer-Encoding: base64

{b64(PNG_INLINE)}
--related-1--

--outer-1
Content-Type: image/jpeg
Content-Transfer-Encoding: base64

{b64(JPEG_FAKE)}
--outer-1--
"""
    )
    return raw, {
        "text": "Halaman penawaran tampil seperti ini:\n[image: image001.png]\nMohon dicek.",
        "html_contains": ['src="cid:image001.png@01DB3D2A.5F0E1C20"'],
        "attachments": [
            att("image001.png", "image/png", PNG_INLINE, inline=True),
            att("attachment-2.jpg", "image/jpeg", JPEG_FAKE),
        ],
    }


FORWARDED_INNER = """From: Pokja Pemilihan 7 <pokja7@lpse-demo.example>
To: hendra@cvmakmur.example
Subject: Undangan pembuktian kualifikasi paket 10023777
Date: Fri, 20 Nov 2026 16:00:00 +0700
Message-ID: <pokja7-undangan-0001@lpse-demo.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Dengan hormat,

Bersama ini kami mengundang Saudara untuk pembuktian kualifikasi
paket 10023777 pada hari Senin, 23 November 2026 pukul 09.00 WIB.

Pokja Pemilihan 7"""


def forwarded_rfc822() -> Case:
    raw = crlf(
        f"""From: Hendra Gunawan <hendra@cvmakmur.example>
To: {HELPDESK}
Subject: Fwd: Undangan pembuktian kualifikasi paket 10023777
Date: Tue, 24 Nov 2026 11:00:00 +0700
Message-ID: <fwd-att-0001@cvmakmur.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-1"

--fwd-1
Content-Type: text/plain; charset=utf-8

Mohon dibantu, jadwal di undangan ini tidak muncul di aplikasi.

Salam,
Hendra

--fwd-1
Content-Type: message/rfc822; name="Undangan pembuktian.eml"
Content-Disposition: attachment; filename="Undangan pembuktian.eml"

{FORWARDED_INNER}
--fwd-1--
"""
    )
    # The embedded message as re-serialised: the CRLF before the closing boundary
    # belongs to the delimiter, so the attachment ends without it.
    inner = crlf(FORWARDED_INNER)
    forwarded = (
        "---------- Forwarded message ----------\n"
        "From: Pokja Pemilihan 7 <pokja7@lpse-demo.example>\n"
        "Date: Fri, 20 Nov 2026 16:00:00 +0700\n"
        "Subject: Undangan pembuktian kualifikasi paket 10023777\n"
        "To: hendra@cvmakmur.example\n\n"
        "Dengan hormat,\n\n"
        "Bersama ini kami mengundang Saudara untuk pembuktian kualifikasi\n"
        "paket 10023777 pada hari Senin, 23 November 2026 pukul 09.00 WIB.\n\n"
        "Pokja Pemilihan 7"
    )
    top = "Mohon dibantu, jadwal di undangan ini tidak muncul di aplikasi.\n\nSalam,\nHendra"
    return raw, {
        "text": top + "\n\n" + forwarded,
        "new_text": top + "\n\n" + forwarded,
        "attachments": [att("Undangan pembuktian.eml", "message/rfc822", inner)],
    }


def gmail_forward_inline() -> Case:
    body = """Mohon bantuannya, email di bawah dari panitia tetapi tautannya tidak bisa dibuka.

---------- Forwarded message ---------
From: Pokja Pemilihan 3 <pokja3@lpse-demo.example>
Date: Sen, 23 Nov 2026 pukul 08.00
Subject: Klarifikasi harga paket 10023888
To: <lina@sumberrejeki.example>


Yth. Peserta,
Mohon hadir untuk klarifikasi harga pada tanggal 25 November 2026.
Pokja Pemilihan 3
"""
    raw = crlf(
        f"""From: Lina Kartika <lina@sumberrejeki.example>
To: {HELPDESK}
Subject: Fwd: Klarifikasi harga paket 10023888
Date: Tue, 24 Nov 2026 12:00:00 +0700
Message-ID: <CAfwd-inline-0001@mail.gmail.example>
Content-Type: text/plain; charset="UTF-8"

{body}"""
    )
    return raw, {"new_text": body.strip(), "text": body.strip()}


def rfc2047_utf8() -> Case:
    # "Permohonan reset akun – PT Sejahtera Abadi ✓", split across two B words in the
    # middle of the UTF-8 bytes of the en dash (bad encoders do this).
    subject_bytes = "Permohonan reset akun – PT Sejahtera Abadi ✓".encode()
    cut = subject_bytes.index("–".encode()) + 1
    word1 = base64.b64encode(subject_bytes[:cut]).decode("ascii")
    word2 = base64.b64encode(subject_bytes[cut:]).decode("ascii")
    raw = crlf(
        f"""From: =?UTF-8?Q?Bambang_Wibowo_=E2=80=93_Direktur?= <bambang@sejahteraabadi.example>
To: =?utf-8?B?SGVscGRlc2sgTFBTRQ==?= <{HELPDESK}>
Subject: =?UTF-8?B?{word1}?=
 =?UTF-8?B?{word2}?=
Date: Wed, 25 Nov 2026 08:00:00 +0700
Message-ID: <rfc2047-utf8-0001@sejahteraabadi.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{b64(b"Mohon reset akun PT Sejahtera Abadi, email admin sudah tidak aktif.")}
"""
    )
    return raw, {
        "from_name": "Bambang Wibowo – Direktur",
        "from_addr": "bambang@sejahteraabadi.example",
        "subject": "Permohonan reset akun – PT Sejahtera Abadi ✓",
        "to": [HELPDESK],
        "text": "Mohon reset akun PT Sejahtera Abadi, email admin sudah tidak aktif.",
        "defects": [],
    }


def rfc2047_latin1() -> Case:
    name_word = base64.b64encode("José Ramírez".encode("latin-1")).decode("ascii")
    body = "Saya José Ramírez dari PT Iberia Teknik, mohon info pendaftaran penyedia asing.\n"
    raw = (
        crlf(
            f"""From: =?iso-8859-1?B?{name_word}?= <Jose.Ramirez@IberiaTeknik.example>
To: {HELPDESK}
Subject: =?ISO-8859-1?Q?Pendaftaran_penyedia_asing_=2D_Jos=E9_Ram=EDrez?=
Date: Wed, 25 Nov 2026 09:00:00 +0100
Message-ID: <rfc2047-latin1-0001@iberiateknik.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

"""
        )
        + body.replace("\n", "\r\n").encode("latin-1")
    )
    return raw, {
        "from_name": "José Ramírez",
        "from_addr": "jose.ramirez@iberiateknik.example",
        "subject": "Pendaftaran penyedia asing - José Ramírez",
        "date": "2026-11-25T09:00:00+01:00",
        "text": body.strip(),
    }


def rfc2231_filename() -> Case:
    raw = crlf(
        f"""From: Yusuf Maulana <yusuf@adhikarya.example>
To: {HELPDESK}
Subject: Berita acara evaluasi tidak bisa diunduh
Date: Wed, 25 Nov 2026 10:00:00 +0700
Message-ID: <rfc2231-0001@adhikarya.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2231"

--b2231
Content-Type: text/plain; charset=utf-8

Terlampir berita acara yang saya maksud.

--b2231
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''Berita%20Acara%20Evaluasi%20;
 filename*1*=%E2%80%93%20Paket%2010023456.pdf
Content-Transfer-Encoding: base64

{b64(PDF_FAKE)}
--b2231--
"""
    )
    return raw, {
        "text": "Terlampir berita acara yang saya maksud.",
        "attachments": [att("Berita Acara Evaluasi – Paket 10023456.pdf", "application/pdf", PDF_FAKE)],
    }


def unknown_charset() -> Case:
    body = "Mohon info jadwal pembuktian kualifikasi – terima kasih.\n"
    raw = crlf(
        f"""From: Wulan Sari <wulan@mitrasejati.example>
To: {HELPDESK}
Subject: =?x-unknown?Q?Jadwal_pembuktian?=
Date: Wed, 25 Nov 2026 11:00:00 +0700
Message-ID: <unknown-charset-0001@mitrasejati.example>
MIME-Version: 1.0
Content-Type: text/plain; charset="x-unknown"
Content-Transfer-Encoding: 8bit

{body}"""
    )
    return raw, {
        "subject": "Jadwal pembuktian",
        "text": body.strip(),
        "new_text": body.strip(),
        "defects_contains": ["unknown charset 'x-unknown' in Subject", "unknown charset 'x-unknown' in text body"],
    }


def raw_8bit_headers() -> Case:
    raw = (
        b"From: Sri Wahyuni \xe2\x80\x93 Pengadaan <sri@kencana.example>\r\n"
        b"To: Caf\xe9 Helpdesk <" + HELPDESK.encode() + b">\r\n"
        b"Subject: Pertanyaan e-Katalog \xe2\x80\x94 harga tayang tidak sesuai\r\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0700\r\n"
        b"Message-ID: <raw8bit-0001@kencana.example>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Harga di e-Katalog berbeda dengan harga kontrak \xe2\x80\x94 mohon dicek.\r\n"
    )
    return raw, {
        "from_name": "Sri Wahyuni – Pengadaan",
        "from_addr": "sri@kencana.example",
        "to": [HELPDESK],
        "subject": "Pertanyaan e-Katalog — harga tayang tidak sesuai",
        "text": "Harga di e-Katalog berbeda dengan harga kontrak — mohon dicek.",
        "defects_contains": ["8-bit bytes in Subject", "8-bit bytes in From"],
    }


def missing_message_id() -> Case:
    raw = crlf(
        f"""From: Tono <tono@bangunjaya.example>
To: {HELPDESK}
Subject: Tanpa Message-ID
Date: Wed, 25 Nov 2026 13:00:00 +0700
Content-Type: text/plain; charset=utf-8

Mailer kami tidak menambahkan Message-ID.
"""
    )
    expected_id = "mailbot-sha256-" + hashlib.sha256(raw).hexdigest()[:32] + "@missing"
    return raw, {
        "message_id": expected_id,
        "from_addr": "tono@bangunjaya.example",
        "text": "Mailer kami tidak menambahkan Message-ID.",
    }


def missing_from() -> Case:
    raw = crlf(
        f"""To: {HELPDESK}
Subject: Pesan tanpa pengirim
Date: Wed, 25 Nov 2026 14:00:00 +0700
Message-ID: <no-from-0001@relay.example>
Content-Type: text/plain; charset=utf-8

Pesan ini tidak memiliki header From.
"""
    )
    return raw, {
        "from_addr": "",
        "from_name": "",
        "message_id": "no-from-0001@relay.example",
        "text": "Pesan ini tidak memiliki header From.",
        "defects_contains": ["missing From header"],
    }


def missing_boundary() -> Case:
    raw = crlf(
        f"""From: Joko <joko@tunasbaru.example>
To: {HELPDESK}
Subject: Boundary hilang
Date: Wed, 25 Nov 2026 15:00:00 +0700
Message-ID: <no-boundary-0001@tunasbaru.example>
MIME-Version: 1.0
Content-Type: multipart/mixed

--NextPart_000_0001
Content-Type: text/plain; charset=utf-8

Aplikasi kami membuat MIME sendiri dan lupa parameter boundary.

--NextPart_000_0001
Content-Type: text/plain; name="data.txt"
Content-Disposition: attachment; filename="data.txt"

{SMALL_TXT.decode()}
--NextPart_000_0001--
"""
    )
    return raw, {
        "text": "Aplikasi kami membuat MIME sendiri dan lupa parameter boundary.",
        "attachments": [att("data.txt", "text/plain", SMALL_TXT.replace(b"\n", b"\r\n"))],
        "defects_contains": [
            "NoBoundaryInMultipartDefect",
            "multipart boundary missing or wrong; guessed it from the body",
        ],
    }


def wrong_boundary() -> Case:
    raw = crlf(
        f"""From: Joko <joko@tunasbaru.example>
To: {HELPDESK}
Subject: Boundary salah
Date: Wed, 25 Nov 2026 15:30:00 +0700
Message-ID: <wrong-boundary-0001@tunasbaru.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="DECLARED"

--ACTUAL
Content-Type: text/plain; charset=utf-8

Boundary yang dideklarasikan berbeda dengan yang dipakai.

--ACTUAL
Content-Type: text/html; charset=utf-8

<p>Boundary yang dideklarasikan <i>berbeda</i> dengan yang dipakai.</p>

--ACTUAL--
"""
    )
    return raw, {
        "text": "Boundary yang dideklarasikan berbeda dengan yang dipakai.",
        "html_contains": ["<i>berbeda</i>"],
        "attachments": [],
        "defects_contains": ["StartBoundaryNotFoundDefect"],
    }


def long_header() -> Case:
    words = " ".join(f"kata{i:04d}" for i in range(1100))  # about 10 kB
    folded = "\n ".join(words[i : i + 70] for i in range(0, len(words), 70))
    ids = [f"<ref{i:03d}.thread@lpse-demo.example>" for i in range(1, 151)]
    references = "\n ".join(ids)
    raw = crlf(
        f"""From: Spam Generator <gen@longheader.example>
To: {HELPDESK}
Subject: Subjek sangat panjang {folded}
X-Very-Long: {folded}
References: {references}
In-Reply-To: {ids[-1]}
Date: Thu, 26 Nov 2026 08:00:00 +0700
Message-ID: <long-header-0001@longheader.example>
Content-Type: text/plain; charset=utf-8

Isi singkat.
"""
    )
    return raw, {
        "subject_length": 500,
        "subject_startswith": "Subjek sangat panjang kata0000 kata0001",
        "references_count": 100,
        "references_first": "ref001.thread@lpse-demo.example",
        "references_last": "ref150.thread@lpse-demo.example",
        "in_reply_to": ["ref150.thread@lpse-demo.example"],
        "text": "Isi singkat.",
        "defects_contains": ["References has 150 ids; kept 100"],
    }


def deep_nesting() -> Case:
    depth = 100
    inner = "Content-Type: text/plain; charset=utf-8\n\nIsi terdalam yang tidak akan terbaca.\n"
    for level in range(depth, 0, -1):
        inner = (
            f'Content-Type: multipart/mixed; boundary="lvl{level}"\n\n'
            f"--lvl{level}\n{inner}\n--lvl{level}--\n"
        )
    raw = crlf(
        f"""From: Deep <deep@nesting.example>
To: {HELPDESK}
Subject: Struktur MIME sangat dalam
Date: Thu, 26 Nov 2026 09:00:00 +0700
Message-ID: <deep-0001@nesting.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="top"

--top
Content-Type: text/plain; charset=utf-8

Pesan di lapisan luar.

--top
{inner}
--top--
"""
    )
    return raw, {
        "text": "Pesan di lapisan luar.",
        "text_not_contains": ["terdalam"],
        "attachments": [],
        "defects_contains": ["MIME nesting deeper than 40 levels; deeper parts ignored"],
    }


def winmail_dat() -> Case:
    raw = crlf(
        f"""From: Bayu <bayu@nusantaraelektrik.example>
To: {HELPDESK}
Subject: Dokumen kualifikasi
Date: Thu, 26 Nov 2026 10:00:00 +0700
Message-ID: <tnef-0001@nusantaraelektrik.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="tnef-b"

--tnef-b
Content-Type: text/plain; charset="us-ascii"

Dokumen kualifikasi kami lampirkan.

--tnef-b
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

{b64(TNEF_FAKE)}
--tnef-b--
"""
    )
    return raw, {
        "text": "Dokumen kualifikasi kami lampirkan.",
        "attachments": [att("winmail.dat", "application/ms-tnef", TNEF_FAKE)],
    }


def attachment_over_cap() -> Case:
    raw = crlf(
        f"""From: Made <made@balikarya.example>
To: {HELPDESK}
Subject: Lampiran besar
Date: Thu, 26 Nov 2026 11:00:00 +0700
Message-ID: <big-0001@balikarya.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="big-b"

--big-b
Content-Type: text/plain; charset=utf-8

Lampiran dokumen penawaran (zip) dan catatan.

--big-b
Content-Type: application/zip; name="penawaran.zip"
Content-Disposition: attachment; filename="penawaran.zip"
Content-Transfer-Encoding: base64

{b64(BIG_ZIP)}
--big-b
Content-Type: text/plain; charset=utf-8; name="catatan.txt"
Content-Disposition: attachment; filename="catatan.txt"
Content-Transfer-Encoding: base64

{b64(SMALL_TXT)}
--big-b--
"""
    )
    return raw, {
        "max_attachment_bytes": 4096,
        "text": "Lampiran dokumen penawaran (zip) dan catatan.",
        "attachments": [
            att("penawaran.zip", "application/zip", BIG_ZIP, has_content=False),
            att("catatan.txt", "text/plain", SMALL_TXT),
        ],
    }


def path_traversal() -> Case:
    raw = crlf(
        f"""From: Iseng <iseng@attacker.example>
To: {HELPDESK}
Subject: Lampiran dengan nama aneh
Date: Thu, 26 Nov 2026 12:00:00 +0700
Message-ID: <traversal-0001@attacker.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="trav"

--trav
Content-Type: text/plain; charset=utf-8

Lihat lampiran.

--trav
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="../../etc/passwd"

root:x:0:0
--trav
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="..\\\\..\\\\Windows\\\\System32\\\\evil.exe"

MZ
--trav
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''laporan%E2%80%AEfdp.exe

%PDF
--trav
Content-Type: image/gif
Content-Disposition: attachment; filename=".."

GIF89a
--trav--
"""
    )
    return raw, {
        "text": "Lihat lampiran.",
        "attachments": [
            att("passwd", "application/octet-stream", b"root:x:0:0"),
            att("evil.exe", "application/octet-stream", b"MZ"),
            att("laporanfdp.exe", "application/pdf", b"%PDF"),
            att("attachment-4.gif", "image/gif", b"GIF89a"),
        ],
    }


BOUNCED = """From: Helpdesk LPSE <helpdesk@lpse-demo.example>
To: tidakada@majujaya.example
Subject: [LPSE-2026-0042] Tiket Anda telah kami terima
Date: Mon, 23 Nov 2026 09:13:00 +0700
Message-ID: <ticket-LPSE-2026-0042.1@lpse-demo.example>
X-Mailbot-Ticket: LPSE-2026-0042
X-Mailbot-Hops: 1
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8

Tiket Anda LPSE-2026-0042 telah kami terima."""

DSN_STATUS = """Reporting-MTA: dns; mx.lpse-demo.example
X-Postfix-Queue-ID: 4Xyz999
Arrival-Date: Mon, 23 Nov 2026 09:13:01 +0700

Final-Recipient: rfc822; tidakada@majujaya.example
Original-Recipient: rfc822;tidakada@majujaya.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.majujaya.example
Diagnostic-Code: smtp; 550 5.1.1 <tidakada@majujaya.example>: Recipient address rejected"""


def dsn_bounce() -> Case:
    human = """This is the mail system at host mx.lpse-demo.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<tidakada@majujaya.example>: host mail.majujaya.example said: 550 5.1.1
    Recipient address rejected"""
    raw = crlf(
        f"""Return-Path: <>
Delivered-To: {HELPDESK}
Date: Mon, 23 Nov 2026 09:13:05 +0700 (WIB)
From: MAILER-DAEMON@mx.lpse-demo.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {HELPDESK}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4Xyz999.1795400000/mx.lpse-demo.example"
Message-Id: <20261123021305.AB12C3D4E5@mx.lpse-demo.example>

This is a MIME-encapsulated message.

--4Xyz999.1795400000/mx.lpse-demo.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

{human}

--4Xyz999.1795400000/mx.lpse-demo.example
Content-Description: Delivery report
Content-Type: message/delivery-status

{DSN_STATUS}

--4Xyz999.1795400000/mx.lpse-demo.example
Content-Description: Undelivered Message
Content-Type: message/rfc822

{BOUNCED}

--4Xyz999.1795400000/mx.lpse-demo.example--
"""
    )
    # message/delivery-status is re-serialised block by block, each block ending with
    # an empty line; the returned message as written (the blank line before the next
    # delimiter is its last line of body).
    status_blocks = DSN_STATUS.split("\n\n")
    status_bytes = b"".join(crlf(block + "\n\n") for block in status_blocks)
    return raw, {
        "from_addr": "mailer-daemon@mx.lpse-demo.example",
        "from_name": "Mail Delivery System",
        "return_path": "<>",
        "auto_submitted": "auto-replied",
        "content_type": "multipart/report",
        "text": human,
        "text_not_contains": ["Forwarded message", "Tiket Anda LPSE-2026-0042"],
        "attachments": [
            att("attachment-1.txt", "message/delivery-status", status_bytes),
            att("attachment-2.eml", "message/rfc822", crlf(BOUNCED + "\n")),
        ],
    }


def auto_reply() -> Case:
    raw = crlf(
        f"""From: Dian Pratiwi <dian@cahayaprima.example>
To: Helpdesk LPSE <{HELPDESK}>
Subject: Balasan Otomatis: [LPSE-2026-0044] Tiket Anda telah kami terima
Date: Thu, 26 Nov 2026 13:00:00 +0700
Message-ID: <oof-0001@cahayaprima.example>
In-Reply-To: <ticket-LPSE-2026-0044.1@lpse-demo.example>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Precedence: auto_reply
Content-Type: text/plain; charset=utf-8

Terima kasih atas email Anda. Saya sedang cuti sampai 30 November 2026.
"""
    )
    return raw, {
        "auto_submitted": "auto-replied",
        "x_auto_response_suppress": "All",
        "precedence": "auto_reply",
        "in_reply_to": ["ticket-LPSE-2026-0044.1@lpse-demo.example"],
        "subject": "Balasan Otomatis: [LPSE-2026-0044] Tiket Anda telah kami terima",
    }


def mailbot_hops() -> Case:
    raw = crlf(
        """Return-Path: <helpdesk@lpse-demo.example>
Delivered-To: Helpdesk+LPSE-2026-0042@lpse-demo.example
X-Original-To: helpdesk+lpse-2026-0042@lpse-demo.example
Authentication-Results: mx.lpse-demo.example;
\tdkim=pass header.d=lpse-demo.example header.s=mail;
\tspf=pass smtp.mailfrom=helpdesk@lpse-demo.example
Authentication-Results: relay.lpse-demo.example; dmarc=pass header.from=lpse-demo.example
From: Helpdesk LPSE <helpdesk@lpse-demo.example>
To: helpdesk+lpse-2026-0042@lpse-demo.example
Subject: [LPSE-2026-0042] Pengingat: data belum lengkap
Date: Thu, 26 Nov 2026 14:00:00 +0700
Message-ID: <reminder-LPSE-2026-0042.5@lpse-demo.example>
X-Mailbot-Hops: 3
X-Mailbot-Ticket: LPSE-2026-0042
List-Id: Helpdesk LPSE <helpdesk.lpse-demo.example>
Precedence: bulk
Auto-Submitted: auto-generated
Content-Type: text/plain; charset=utf-8

Pengingat: mohon lengkapi data tiket LPSE-2026-0042.
"""
    )
    return raw, {
        "x_mailbot_hops": 3,
        "x_mailbot_ticket": "LPSE-2026-0042",
        "delivered_to": ["helpdesk+lpse-2026-0042@lpse-demo.example"],
        "authentication_results": [
            "mx.lpse-demo.example; dkim=pass header.d=lpse-demo.example header.s=mail; "
            "spf=pass smtp.mailfrom=helpdesk@lpse-demo.example",
            "relay.lpse-demo.example; dmarc=pass header.from=lpse-demo.example",
        ],
        "list_id": "Helpdesk LPSE <helpdesk.lpse-demo.example>",
        "precedence": "bulk",
        "auto_submitted": "auto-generated",
        "return_path": "<helpdesk@lpse-demo.example>",
        "from_addr": "helpdesk@lpse-demo.example",
    }


def content_mentions_wrote() -> Case:
    body = """Selamat sore,

Saya sudah menulis email ke PPK kemarin. Pada hari Senin saya menulis:
"mohon paket dibuka kembali", tetapi belum ada jawaban.
On Monday I wrote:
the tender code is 10023456, please check.

Mohon bantuan Helpdesk.
Fajar"""
    raw = crlf(
        f"""From: Fajar Nugroho <fajar@lintasnusa.example>
To: {HELPDESK}
Subject: Belum ada jawaban dari PPK
Date: Thu, 26 Nov 2026 15:00:00 +0700
Message-ID: <wrote-0001@lintasnusa.example>
Content-Type: text/plain; charset=utf-8

{body}
"""
    )
    return raw, {"text": body, "new_text": body}


def yahoo_reply_id() -> Case:
    body = """Sudah berhasil, terima kasih banyak.

Dikirim dari Yahoo Mail di Android

Pada Senin, 23 November 2026 10.15.03 WIB, Helpdesk LPSE <helpdesk@lpse-demo.example> menulis:

Yth. Bapak Eko,
Silakan coba login kembali setelah 15 menit.
"""
    raw = crlf(
        f"""From: Eko Prasetyo <eko_prasetyo@yahoo.example>
To: Helpdesk LPSE <{HELPDESK}>
Subject: Re: [LPSE-2026-0047] Akun terblokir
Date: Mon, 23 Nov 2026 03:50:00 +0000 (UTC)
Message-ID: <1234567890.1234567.1795400000000@mail.yahoo.example>
In-Reply-To: <reply-LPSE-2026-0047.2@lpse-demo.example>
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

{body}"""
    )
    return raw, {
        "new_text": "Sudah berhasil, terima kasih banyak.",
        "date": "2026-11-23T03:50:00+00:00",
    }


def html_reply_blockquote() -> Case:
    html = (
        '<html><body><div dir="ltr">Baik, akan saya lengkapi besok pagi.<div><br></div>'
        "<div>Salam,</div><div>Nina</div></div><br>"
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Nov 24, 2026 at 2:00 PM '
        "Helpdesk LPSE &lt;helpdesk@lpse-demo.example&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Mohon lengkapi data berikut:<br><ul><li>Kode tender</li>'
        "<li>Nama perusahaan</li></ul></blockquote></div></body></html>"
    )
    raw = crlf(
        f"""From: Nina Anggraini <nina@tigapilar.example>
To: {HELPDESK}
Subject: Re: [LPSE-2026-0048] Data belum lengkap
Date: Tue, 24 Nov 2026 15:00:00 +0700
Message-ID: <html-reply-0001@tigapilar.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

{html}
"""
    )
    return raw, {
        "new_text": "Baik, akan saya lengkapi besok pagi.\n\nSalam,\nNina",
        "text_contains": ["> Mohon lengkapi data berikut:", "> - Kode tender"],
        "new_text_not_contains": ["Kode tender"],
    }


CASES = {
    "plain_new_vendor": plain_new_vendor,
    "gmail_reply_id": gmail_reply_id,
    "gmail_reply_en": gmail_reply_en,
    "outlook_reply_original": outlook_reply_original,
    "outlook_reply_id": outlook_reply_id,
    "thunderbird_reply_quotes": thunderbird_reply_quotes,
    "thunderbird_bottom_post": thunderbird_bottom_post,
    "yahoo_reply_id": yahoo_reply_id,
    "html_only": html_only,
    "html_reply_blockquote": html_reply_blockquote,
    "multipart_alternative": multipart_alternative,
    "png_screenshot": png_screenshot,
    "inline_image_cid": inline_image_cid,
    "forwarded_rfc822": forwarded_rfc822,
    "gmail_forward_inline": gmail_forward_inline,
    "rfc2047_utf8": rfc2047_utf8,
    "rfc2047_latin1": rfc2047_latin1,
    "rfc2231_filename": rfc2231_filename,
    "unknown_charset": unknown_charset,
    "raw_8bit_headers": raw_8bit_headers,
    "missing_message_id": missing_message_id,
    "missing_from": missing_from,
    "missing_boundary": missing_boundary,
    "wrong_boundary": wrong_boundary,
    "long_header": long_header,
    "deep_nesting": deep_nesting,
    "winmail_dat": winmail_dat,
    "attachment_over_cap": attachment_over_cap,
    "path_traversal": path_traversal,
    "dsn_bounce": dsn_bounce,
    "auto_reply": auto_reply,
    "mailbot_hops": mailbot_hops,
    "content_mentions_wrote": content_mentions_wrote,
}


def main() -> None:
    for name, build in CASES.items():
        raw, expected = build()
        (HERE / f"{name}.eml").write_bytes(raw)
        (HERE / f"{name}.json").write_text(
            json.dumps(expected, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    print(f"wrote {len(CASES)} cases to {HERE}")


if __name__ == "__main__":
    main()
