"""The structural near-deadline detector: a near time next to a deadline word or a tender step.

Every sentence here was written for this test, none copied from a data set: the point is that
wordings nobody tuned on are read the way a helpdesk officer would read them.
"""

from __future__ import annotations

import pytest

from mailbot.core.matching import normalise
from mailbot.core.near_deadline import near_deadline


def _found(text: str) -> bool:
    return near_deadline(normalise(text)) is not None


@pytest.mark.parametrize(
    "text",
    [
        # deadline word + a clock time or a part of today, in any order, any spelling
        "Batasnya jam 3 sore ini, tolong cepat ya",
        "btas upload nya pkl 14.00 pak",
        "deadline penawaran jam 10 pagi",
        "paling lambat pukul 15.30 WIB dokumen harus sudah masuk",
        "Pemasukan penawaran ditutup 13.00 WIB",
        "Sore ini terakhir upload, sistem malah error",
        "hr ini trakhir masukin penawaran",
        "jadi besok batas akhirnya",
        "tenggat waktu malam ini pukul 23.59",
        # a tender step happening or due soon
        "kami sedang melaksanakan pembukaan dokumen penawaran\npaket jalan desa hari ini",
        "Evaluasi teknis dijadwalkan siang ini, file belum bisa dibuka",
        "besok pagi pembuktian kualifikasi tapi akun kami terkunci",
        "klarifikasi dan negosiasi jam 9 besok, OTP tidak masuk",
        "masa sanggah berakhir nanti malam dan tombolnya hilang",
        # an upload/send verb with a clock time or later today
        "harus kirim dok penawaran sebelum jam 4",
        "mau upload nanti sore tapi aplikasi crash",
        # countdowns
        "tinggal 2 jam lagi pak tolong",
        "sisa waktu 45 menit, belum bisa upload",
        "waktunya tinggal setengah jam",
        # English
        "We have a bid to submit by 16:00 today.",
        "The tender closes tomorrow at 10 am and we cannot log in.",
        "Our submission is due tonight.",
        "Bid opening is this afternoon but the files will not decrypt.",
        "Only 30 minutes left before the deadline!",
        "the deadline is 3 pm",
        # typos and short forms
        "bsok pagi pembukaan tp ga bisa login",
        "btsnya jm 2 siang ni pak",
        "Please help, the bid must be uploaded by end of day.",
        "submission closes at midnight",
        # a hard line break inside the sentence
        "Mohon bantuannya, batas akhir pemasukan\npenawaran hari ini pukul 15.00",
    ],
)
def test_a_near_deadline_is_found_in_new_wordings(text: str) -> None:
    assert _found(text), text


@pytest.mark.parametrize(
    "text",
    [
        # when the problem started, not when something is due
        "sejak jam 8 pagi tadi tidak bisa login",
        "Since 13:00 WIB today the site does not load.",
        "dari pukul 09.30 hari ini aplikasi error terus",
        "tadi pagi jam 7 saya coba upload, gagal",
        # "sampai hari ini" is "up to now"
        "sudah 2 minggu sampai hari ini akun belum diverifikasi",
        "until today nothing has changed on our account",
        # an explicit date is the date module's job: it needs the arrival time to judge nearness
        "batas penawaran Kamis 12 Maret pukul 14.00",
        "deadline 20/03/2025 jam 10.00",
        "Date: Sen, 3 Jun 2024 09.12",
        # a deadline far away or denied
        "batas upload masih minggu depan, hari ini saya coba dulu",
        "tidak ada jadwal hari ini, saya hanya bertanya",
        "No deadline today, just a question about the fee.",
        "batas akhir besok lusa",
        # near-time words with nothing due
        "hari ini saya coba upload tetapi gagal",
        "nanti saya kirim screenshot nya",
        "kalau nanti pertanyaan peserta masuk bagaimana",
        # a bare "nanti" beside an obligation asks what happens later; it sets no deadline
        "apakah nanti pemenang diberi tahu lewat email atau harus melihat sendiri di SPSE?",
        "nanti kami harus unggah ulang dokumennya?",
        "besok saya telepon lagi",
        "akun dibuat hari ini jam 10",
        "pesan: silakan coba kembali 30 menit lagi",
        "terakhir kali login jam 8 pagi masih bisa",
        # when it happened, or a step that is over
        "pada jam 10 saya upload penawaran tetapi gagal",
        "saat pukul 14.00 kami kirim dokumen, muncul error",
        "tender sudah ditutup kemarin, hari ini saya mau tanya hasil evaluasi",
        "The bid opening was already over, today we only want the minutes.",
        "",
    ],
)
def test_times_that_are_no_deadline_are_ignored(text: str) -> None:
    assert not _found(text), text


def test_the_finding_names_the_words_that_carry_it() -> None:
    found = near_deadline(normalise("Pak, batasnya jam 4 sore ini. Mohon dibantu."))
    assert found is not None
    assert "jam 4 sore ini" in found


def test_a_deadline_in_another_paragraph_from_the_time_does_not_count() -> None:
    text = "Batas akhir pemasukan masih lama.\n\nHari ini saya coba kirim lagi, gagal lagi."
    assert not _found(text)


def test_a_deadline_at_the_end_of_a_long_run_on_paragraph_is_found() -> None:
    text = "pak saya mau tanya soal aplikasi dan kendala yang saya alami dari kemarin " * 12 + "batasnya jam 3 sore ini"
    assert _found(text)
