"""Knowledge: loaders refuse bad files clearly, the index updates incrementally and survives a crash, retrieval finds
the right chunk in English and Chinese, and the CLI, citations and ingest job work end to end."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.knowledge.citations import cited_numbers, format_context, sources_markdown
from assistant.knowledge.index import KnowledgeIndex
from assistant.knowledge.lexical import BM25Index, tokenize
from assistant.knowledge.loaders import LoadError, load_file
from assistant.knowledge.service import KnowledgeBase

LORA = """# LoRA adapters

## Training an adapter
Open the Adapters tab, choose a dataset and press Train. The default rank is r=8 with alpha 16 on q_proj and
v_proj; a run of 20 steps changes behaviour.

## Switching adapters
Adapters switch in 3-7 ms without reloading the base model.
"""
GAN = "GANs pit a generator against a discriminator.\nThe generator tries to fool it.\nMode collapse is a risk.\n"
VAE_ZH = """# 变分自编码器

## 损失函数
VAE 的损失由重建误差和KL散度两部分组成。编码器输出均值和对数方差。

## 量化
量化把fp32权重压缩为4比特，GGUF是llama.cpp使用的格式。
"""
LIMITS = "Settings reference.\nThe upload limit is max_upload_mb = 20 megabytes per file.\nThe port is 7860.\n"


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF with one line of Helvetica text per page (empty string = a page with no text)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode() if text else b""
        content_id = len(objects) + 2
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
                       "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        kids.append(f"{len(objects) - 1} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture()
def kb(tmp_path) -> KnowledgeBase:
    corpus = tmp_path / "knowledge"
    corpus.mkdir()
    (corpus / "lora.md").write_text(LORA)
    (corpus / "gan.txt").write_text(GAN)
    (corpus / "vae_zh.md").write_text(VAE_ZH)
    (corpus / "limits.txt").write_text(LIMITS)
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=corpus, auto_index_knowledge=False,
                        max_upload_mb=1, chunk_size=300, chunk_overlap=60)
    settings.ensure_dirs()
    return KnowledgeBase(settings)


def test_loaders_give_a_clear_message_per_bad_file(kb, tmp_path):
    from pypdf import PdfWriter

    up = kb.settings.uploads_dir
    roots = list(kb.roots.values())
    bad = {
        "empty.txt": (b"", "empty"),
        "binary.txt": (bytes(range(256)) * 8, "binary"),
        "broken.pdf": (b"%PDF-1.4\nthis is not really a pdf", "broken"),
        "scanned.pdf": (pdf_bytes(["", ""]), "no text layer"),
        "big.txt": (b"a" * (1024 * 1024 + 10), "over the 1 MB limit"),
        "tool.exe": (b"MZ", "unsupported file type"),
    }
    writer = PdfWriter()
    writer.append(io.BytesIO(pdf_bytes(["secret text"])))
    writer.encrypt("pw")
    buffer = io.BytesIO()
    writer.write(buffer)
    bad["locked.pdf"] = (buffer.getvalue(), "encrypted")
    for name, (data, expected) in bad.items():
        (up / name).write_bytes(data)
        with pytest.raises(LoadError, match=expected):
            load_file(up / name, roots, kb.settings.max_upload_mb)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("hello")
    with pytest.raises(LoadError, match="outside the allowed folders"):
        load_file(outside, roots, 1)
    with pytest.raises(LoadError, match="outside"):
        load_file(up / ".." / ".." / "elsewhere.txt", roots, 1)

    # Non-UTF-8 Chinese text is decoded with a fallback encoding, and says so.
    (up / "gbk.txt").write_bytes("量化把权重压缩为四比特，这是一段用GB18030编码的中文文本。".encode("gb18030"))
    loaded = load_file(up / "gbk.txt", roots, 1)
    assert "量化" in loaded.sections[0].text and "not UTF-8" in loaded.notes[0]


def test_pdf_html_docx_keep_locations(kb):
    import docx

    up = kb.settings.uploads_dir
    (up / "paper.pdf").write_bytes(pdf_bytes(["Page one talks about diffusion", "Page two covers FID scores"]))
    (up / "page.html").write_text("<html><body><h1>Guide</h1><h2>Export</h2><p>Votes export as JSONL for KTO.</p>"
                                  "<script>var x=1;</script></body></html>")
    document = docx.Document()
    document.add_heading("Quantization", level=1)
    document.add_paragraph("Dynamic int8 decodes at 19 tokens per second.")
    document.save(up / "notes.docx")
    report = kb.sync_folder()
    assert not report.errors, report.to_dict()
    hit = kb.search("FID scores", k=1)[0]
    assert (hit.source, hit.location) == ("uploads/paper.pdf", "page 2")
    hit = kb.search("export votes JSONL", k=1)[0]
    assert hit.source == "uploads/page.html" and hit.location == "section: Guide › Export" and "var x" not in hit.text
    hit = kb.search("int8 tokens per second", k=1)[0]
    assert hit.source == "uploads/notes.docx" and hit.location == "section: Quantization"


def test_tokenizer_and_bm25_find_exact_names_and_chinese():
    assert tokenize("max_upload_mb Qwen2.5-0.5B adapters") == [
        "max_upload_mb", "max", "upload", "mb", "qwen2.5-0.5b", "qwen2", "5", "0", "5b", "adapter"]
    assert tokenize("KL散度") == ["kl", "散度"]
    assert tokenize("重建误差") == ["重建", "建误", "误差"]
    bm25 = BM25Index()
    bm25.add(["the port is 7860", "upload limit max_upload_mb is 20", "重建误差和KL散度", "量化为4比特"])
    assert bm25.search("max_upload_mb", 2)[0][0] == 1
    assert bm25.search("KL散度是什么", 2)[0][0] == 2
    assert bm25.search("4比特量化", 2)[0][0] == 3
    bm25.keep(np.array([True, False, True, True]))
    bm25.add(["port 7860 again"])
    assert [row for row, _ in bm25.search("7860", 5)] == [0, 3]


def test_sync_is_incremental_and_hybrid_search_finds_the_right_chunk(kb):
    report = kb.sync_folder()
    assert report.count("indexed") == 4 and not report.errors
    docs = {d["source"]: d for d in kb.documents()}
    assert docs["knowledge/lora.md"]["chunks"] >= 2 and docs["knowledge/lora.md"]["indexed_at"]

    top = kb.search("how do I train an adapter?", k=3)
    assert top[0].source == "knowledge/lora.md" and "Training an adapter" in top[0].location and top[0].relevant
    assert kb.search("max_upload_mb", k=1, mode="hybrid")[0].source == "knowledge/limits.txt"
    assert kb.search("max_upload_mb", k=1, mode="bm25")[0].location.startswith("line")
    zh = kb.search("KL散度", k=1)[0]
    assert zh.source == "knowledge/vae_zh.md" and zh.location.endswith("损失函数")
    assert kb.search("量化为几比特", k=1)[0].location.endswith("量化")
    assert not any(h.relevant for h in kb.search("what a lovely sunny afternoon", k=3))

    assert kb.sync_folder().count("unchanged") == 4  # nothing changed: nothing re-embedded
    corpus = kb.settings.knowledge_dir
    (corpus / "gan.txt").write_text(GAN + "Wasserstein loss helps stability.\n")
    (corpus / "limits.txt").unlink()
    report = kb.sync_folder()
    assert (report.count("indexed"), report.count("unchanged"), report.count("removed")) == (1, 2, 1)
    assert kb.search("Wasserstein", k=1)[0].source == "knowledge/gan.txt"
    assert all(h.source != "knowledge/limits.txt" for h in kb.search("max_upload_mb", k=10))
    # A second process (a fresh KnowledgeBase) sees the same saved index.
    again = KnowledgeBase(kb.settings)
    assert len(again.index) == len(kb.index) and again.index.version == kb.index.version


def test_bad_files_leave_the_index_untouched_and_a_crash_keeps_the_old_index(kb):
    kb.sync_folder()
    version, chunks = kb.index.version, len(kb.index)
    report = kb.add_upload("empty.md", b"")
    assert report.errors and "empty" in report.errors[0].message
    assert not (kb.settings.uploads_dir / "empty.md").exists()
    assert kb.add_upload("../escape.md", b"# hi").errors
    # text over max_document_chars (20 MB of it was 23 minutes of embedding in a hostile probe) is refused unread
    kb.settings.max_document_chars = 5_000
    long = kb.add_upload("long.txt", ("All work and no play. " * 300).encode())
    assert long.errors and "6,600 characters of text; at most 5,000" in long.errors[0].message
    assert not (kb.settings.uploads_dir / "long.txt").exists()
    assert not kb.add_upload("short.txt", ("All work and no play. " * 200).encode()).errors  # 4,400: indexed
    kb.delete("uploads/short.txt")
    assert kb.index.version != version and len(kb.index) == chunks  # a new version, the same chunks
    version = kb.index.version

    class Killed(Exception):
        pass

    def die(fraction: float, message: str) -> None:
        if "embedding" in message:
            raise Killed()  # what a kill or a cancel does in the middle of embedding

    (kb.settings.uploads_dir / "new.txt").write_text("Brand new facts about diffusion schedules.")
    with pytest.raises(Killed):
        kb.ingest([kb.settings.uploads_dir / "new.txt"], progress=die)
    fresh = KnowledgeIndex(kb.settings.index_dir, kb.embeddings).load()
    assert fresh.version == version and len(fresh) == chunks
    assert kb.search("KL散度", k=1)[0].source == "knowledge/vae_zh.md"
    # Leftovers of a writer killed inside atomic_dir are ignored and cleaned on the next save.
    (kb.settings.index_dir / ".tmp-v-dead").mkdir()
    report = kb.ingest([kb.settings.uploads_dir / "new.txt"])
    assert report.count("indexed") == 1 and not (kb.settings.index_dir / ".tmp-v-dead").exists()
    assert len(list(kb.settings.index_dir.glob("v-*"))) == 1

    kb.delete("uploads/new.txt")
    assert not (kb.settings.uploads_dir / "new.txt").exists()
    assert "uploads/new.txt" not in {d["source"] for d in kb.documents()}


KILL_SCRIPT = """
import sys
from pathlib import Path
from assistant.config import Settings
from assistant.knowledge.service import KnowledgeBase
kb = KnowledgeBase(Settings(data_dir=sys.argv[1], knowledge_dir=sys.argv[2], auto_index_knowledge=False,
                            chunk_size=300, chunk_overlap=60))
def progress(fraction, message):
    if "embedding" in message:
        Path(sys.argv[3]).touch()
kb.ingest([Path(sys.argv[4])], progress=progress)
"""


@pytest.mark.slow
def test_sigkill_mid_ingestion_leaves_the_previous_index_usable(kb, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    kb.sync_folder()
    version, chunks = kb.index.version, len(kb.index)
    big = kb.settings.uploads_dir / "big.txt"
    big.write_text("\n".join(f"Sentence {i} about schedules, samplers and guidance scales." for i in range(600)))
    marker = tmp_path / "embedding-started"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(kb.settings.data_dir),
                             str(kb.settings.knowledge_dir), str(marker), str(big)],
                            cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the child never started embedding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fresh = KnowledgeBase(kb.settings)
    assert fresh.index.version == version and len(fresh.index) == chunks
    assert fresh.search("KL散度", k=1)[0].source == "knowledge/vae_zh.md"
    small = kb.settings.uploads_dir / "small.txt"
    small.write_text("Classifier-free guidance scale 7.5 is a common default.")
    assert fresh.ingest([small]).count("indexed") == 1  # and the next ingestion works


def test_cli_search_json_and_citations(kb, capsys):
    from assistant.knowledge import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    assert cli.run(parser.parse_args(["ingest"]), kb.settings) == 0
    capsys.readouterr()
    assert cli.run(parser.parse_args(["search", "alpha 16 rank", "--k", "2", "--json"]), kb.settings) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and set(rows[0]) == {"source", "location", "score", "text"}
    assert rows[0]["source"] == "knowledge/lora.md"

    hits = kb.search("alpha 16 rank", k=2)
    context = format_context(hits)
    assert context.startswith("[1] (knowledge/lora.md, section: LoRA adapters › Training an adapter)")
    assert "[2] (" in context
    panel = sources_markdown([h.to_dict() for h in hits])
    assert "**[1] knowledge/lora.md**" in panel and "> " in panel
    assert cited_numbers("Use r=8 [1], see also [2] and [1]; not [9].", 2) == [1, 2]


@pytest.mark.slow
def test_ingest_job_runs_in_the_background(kb):
    from assistant.jobs import JobRunner

    runner = JobRunner(kb.settings)
    job_id = runner.start("ingest", {"sync": True}, lock_key="knowledge")
    info = runner.wait(job_id, timeout=120)
    assert info.status == "succeeded", runner.log_tail(job_id)
    assert "4 indexed" in info.result["summary"]
    assert kb.search("KL散度", k=1)[0].source == "knowledge/vae_zh.md"  # the UI process sees the job's index
