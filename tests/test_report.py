"""End to end: a tiny Snakemake workflow reports one figure made by teachable.figures;
`snakemake --report` builds the self-contained HTML; headless Chromium renders it and the
checks of teachable.workflow.report_check pass (and fail on a report whose PNG is broken)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from teachable.io import InputError
from teachable.workflow.report_check import check_embedded_pngs, check_report, embedded_results, find_chromium

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def have_chromium() -> bool:
    try:
        find_chromium()
        return True
    except InputError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not have_chromium(), reason="chromium not installed (apt-get install -y chromium)")
def test_snakemake_report_renders_a_figure(tmp_path):
    # TEST-ONLY transfer matrix in the format of docs/artifacts.md
    rows = ["train_quadrant,panel_quadrant,n,delta_mean,ci_low,ci_high"]
    qs = ["Q1_highU_highL", "Q2_highU_lowL", "Q3_lowU_lowL", "Q4_lowU_highL"]
    rows += [f"{a},{b},6,{0.2 if a == b else -0.05},-0.1,0.3" for a in qs for b in qs]
    (tmp_path / "transfer_matrix.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "caption.rst").write_text("Transfer matrix (test).\n")
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        rule fig:
            input: "transfer_matrix.csv"
            output: report("figures/transfer_heatmap.png", caption="caption.rst", category="Test")
            shell: "{sys.executable} {ROOT}/scripts/figure.py --name transfer_heatmap --input transfer={{input}} --out {{output}}"
        """))
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "HOME": str(tmp_path)}
    for args in (["--cores", "1"], ["--report", "report.html"]):
        p = subprocess.run([SNAKEMAKE, *args], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
    res = check_report(tmp_path / "report.html", tmp_path / "shot.png")
    assert list(res["embedded_png"]) == ["figures/transfer_heatmap.png"]
    assert res["figure_img_size"] != "failed" and res["figure_content"] > 0.05
    # the CLI agrees
    p = subprocess.run([sys.executable, str(ROOT / "scripts/check_report.py"), str(tmp_path / "report.html"),
                        str(tmp_path / "cli.png")], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    # a report whose embedded PNG is broken fails the check
    html = (tmp_path / "report.html").read_text()
    results = embedded_results(html)
    uri = results["figures/transfer_heatmap.png"]["data_uri"]
    broken = html.replace(uri, uri.split("base64,")[0] + "base64,AAAA")
    (tmp_path / "broken.html").write_text(broken)
    with pytest.raises(InputError, match="does not decode"):
        check_report(tmp_path / "broken.html", tmp_path / "broken.png")


def test_blank_embedded_png_is_rejected(tmp_path):
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 2))
    fig.savefig(tmp_path / "blank.png")
    plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode((tmp_path / "blank.png").read_bytes()).decode()
    html = '<script id="results">\n var results = ' + json.dumps({"blank.png": {"mime_type": "image/png", "data_uri": uri}}) + ";\n</script>"
    with pytest.raises(InputError, match="blank image"):
        check_embedded_pngs(embedded_results(html))
