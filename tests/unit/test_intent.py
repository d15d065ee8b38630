"""What a mail wants (mailbot.core.intent): own trouble, or no request (ask, complain, thanks).

Every sentence here was written for this test, none copied from a data set: the point is that
wordings nobody tuned on are read the way a helpdesk officer following the labelling standard
(tests/data/heldout2/README.md, "Judgement used") would read them.
"""

from __future__ import annotations

import pytest

from mailbot.core.domain import Classification
from mailbot.core.intent import amiss, no_request, own_trouble
from mailbot.core.matching import normalise
from mailbot.core.rules import PriorityTable, classify


def _norm(text: str) -> str:
    return normalise(text)


@pytest.mark.parametrize(
    "text",
    [
        # something of the writer's waiting for days
        "Pendaftaran kami sudah 4 hari masih menunggu, belum ada kabar.",
        "Akun sudah dua minggu statusnya belum berubah.",
        "Kami masih menunggu persetujuan dari admin.",
        # a recorded value that is wrong
        "Nilai kontrak di halaman paket tertulis 2 miliar, seharusnya 1,2 miliar.",
        "Rupanya ada salah input pada nama paket kami.",
        "Data jabatan di profil tidak sesuai dengan SK terbaru.",
        # the writer's own data changed, so it must change in the system
        "Ada pergantian direksi bulan lalu, bagaimana langkahnya?",
        "Kantor kami pindah alamat ke Jalan Merdeka 5, apa yang perlu dikirim?",
        "Direktur lama kami sudah diganti per Januari.",
        "Kami bermaksud memperbarui NPWP perusahaan ke format yang baru.",
        "We have a new director since March; how do we update SPSE?",
        # an official who must change a tender under way
        "Kami perlu memperpanjang masa pemasukan dua hari karena ada adendum.",
        "Pokja harus membatalkan paket ini, caranya bagaimana?",
    ],
)
def test_own_trouble_is_found(text: str) -> None:
    assert own_trouble(_norm(text)) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Kapan jadwal verifikasi berkas asli di kantor LPSE?",
        "Apa saja dokumen yang harus dibawa saat verifikasi?",
        "Bagaimana cara melihat riwayat paket yang pernah kami ikuti?",
        "Terima kasih, akun sudah bisa dipakai lagi.",
        "Which documents does a foreign company need to register?",
        # a data change asked about without anything changed yet is a question
        "Apakah perubahan data perusahaan harus diverifikasi ulang?",
        "Bagaimana cara mengganti email akun di SPSE?",
    ],
)
def test_no_own_trouble_in_a_plain_question_or_thanks(text: str) -> None:
    assert own_trouble(_norm(text)) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Mohon informasi, kapan bimbingan teknis berikutnya diadakan?", "asks"),
        ("Selamat siang. Apakah SPSE versi baru sudah bisa dipakai untuk tender konsultansi?", "asks"),
        ("Bisakah satu perusahaan memakai dua alamat email untuk akun yang sama?", "asks"),
        ("Mau tanya, berapa lama masa berlaku sertifikat elektronik", "only informs"),
        ("How long does the verification of a new vendor usually take?", "asks"),
        # a newcomer lacking a document yet is asking how to start, not reporting a block
        ("Kami belum punya sertifikat badan usaha, apakah tetap bisa mendaftar?", "asks"),
        ("Alhamdulillah sekarang sudah lancar lagi. Terima kasih banyak, Pak.", "solved"),
        ("Sudah berhasil kirim, makasih atas bantuan kemarin.", "solved"),
        ("Kami menyampaikan pengaduan: pemenang paket diduga masih kerabat pejabat.", "complaint"),
        # the writer says it is only to let staff know: a soft sign beside it does not make a request
        ("Jadwal pembukaan tiba-tiba dipindah ke minggu depan. Kami cuma ingin tahu alasannya.", "only informs"),
        # an announced question with only a soft sign ("kok belum") beside it
        ("Numpang tanya, kok jadwal rapat penjelasan belum diumumkan ya?", "only informs"),
    ],
)
def test_no_request(text: str, kind: str) -> None:
    found = no_request(_norm(text))
    assert found is not None and found.startswith(kind)


@pytest.mark.parametrize(
    "text",
    [
        # a question that reports a failure, a symptom or asks why something is wrong
        "Kenapa halaman penawaran saya kosong terus?",
        "Apakah sedang ada gangguan? SPSE lemot sekali sejak siang.",
        "Tombol simpan tidak bisa diklik, bagaimana caranya?",
        "Jadwal paket kami kok berubah sendiri ya?",
        "Saat unggah muncul 'Sesi anda telah berakhir'. Bagaimana solusinya?",
        "Produk kami ditolak kurator, apa yang harus diperbaiki?",
        "Tombol kirim penawaran abu-abu. Apa penyebabnya?",
        # a plea for help after a statement
        "Aplikasi enkripsi tidak mau terbuka di laptop kantor. Mohon petunjuknya.",
        # slowness stays trouble even "just for information" (SPSE slow but up is sedang)
        "SPSE lambat sekali hari ini, sekadar info saja.",
        # an announced question that reports a failure is a problem
        "Mau tanya, kenapa upload dokumen kualifikasi selalu gagal?",
        # thanks for one problem, a new one reported after it
        "Terima kasih, login sudah bisa. Tapi sekarang unggah dokumen gagal terus.",
        # own trouble (a wait) beside a question
        "Sudah 5 hari pendaftaran kami belum diverifikasi, kapan prosesnya?",
    ],
)
def test_no_request_is_none_when_something_is_wrong(text: str) -> None:
    assert no_request(_norm(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "Jika nanti upload gagal, apa yang harus kami lakukan?",  # hypothetical
        "Tidak ada error sama sekali, kami hanya ingin tahu jadwalnya.",  # denied
        "Tender kami dinyatakan gagal, apakah akan ada tender ulang?",  # an outcome, not a failure
    ],
)
def test_a_failure_that_did_not_happen_is_not_amiss(text: str) -> None:
    assert amiss(_norm(text)) is None


def test_nothing_in_an_empty_mail() -> None:
    assert own_trouble("") is None and amiss("") is None and no_request("") is None


# --------------------------------------------------------------------------------------------
# Through the shipped table
# --------------------------------------------------------------------------------------------


def _run(table: PriorityTable, subject: str, text: str) -> Classification:
    return classify(table, subject=subject, text=text)


def test_an_information_request_on_a_sedang_topic_is_rendah_and_asks_nothing(table: PriorityTable) -> None:
    result = _run(table, "Jadwal verifikasi penyedia",
                  "Selamat pagi, berkas pendaftaran CV Tunas Harapan sudah kami lengkapi. Mohon informasi "
                  "kapan kami bisa datang untuk verifikasi berkas asli.")
    assert result.category == "akun_verifikasi"
    assert result.priority == "rendah"
    assert result.missing == ()
    assert any(h.rule == "intent" for h in result.hits)


def test_a_how_to_question_about_own_changed_data_stays_sedang_and_asks_for_data(table: PriorityTable) -> None:
    result = _run(table, "Ubah data perusahaan",
                  "Sejak bulan lalu ada pergantian direktur di perusahaan kami. Bagaimana cara mengubah data "
                  "direktur di SPSE, apa saja syaratnya?")
    assert result.category == "akun_perubahan_data"
    assert result.priority == "sedang"
    assert "user_id" in [m.key for m in result.missing]


def test_a_complaint_about_conduct_is_rendah(table: PriorityTable) -> None:
    result = _run(table, "Pengaduan", "Kami menduga pemenang tender jalan desa sudah diatur sejak awal. Mohon "
                                      "ditindaklanjuti.")
    assert result.priority == "rendah"


def test_a_question_with_a_failure_is_still_a_problem(table: PriorityTable) -> None:
    result = _run(table, "Tidak bisa unggah dokumen kualifikasi",
                  "Setiap kali unggah muncul tulisan gagal menyimpan. Bagaimana caranya supaya bisa?")
    assert result.priority == "sedang"


def test_a_stuck_order_nobody_answers_is_sedang(table: PriorityTable) -> None:
    result = _run(table, "Pesanan e-purchasing tidak direspon penyedia",
                  "Pesanan kami di katalog sudah 5 hari statusnya menunggu konfirmasi penyedia.")
    assert result.priority == "sedang"


def test_an_allegation_about_a_tender_is_a_complaint_for_staff(table: PriorityTable) -> None:
    result = _run(table, "Laporan tender", "Ada indikasi persekongkolan antar peserta pada tender rehabilitasi "
                                            "pasar. Mohon diperiksa.")
    assert result.category == table.default.key
    assert result.priority == "rendah"
