"""The Hugging Face Hub's git refuses files over 10 MB that are not stored through LFS/Xet:
every file of this repository that large must match a `filter=lfs` line of .gitattributes."""
import shutil
import subprocess

import pytest
from conftest import ROOT

LIMIT = 10 * 10**6  # the Hub's limit is 10 MiB; 10 MB leaves a margin


def git(root, *args) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def large_files_outside_lfs(root) -> list[str]:
    """Files git tracks, or would add (untracked and not ignored), that are over LIMIT and
    that .gitattributes does not route through LFS, as `git check-attr` reads it."""
    paths = [p for p in git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if p]
    large = [p for p in dict.fromkeys(paths) if (root / p).is_file() and (root / p).stat().st_size > LIMIT]
    if not large:
        return []
    # -z output: path, attribute, value, path, attribute, value, ...
    fields = git(root, "check-attr", "-z", "filter", "--", *large).split("\0")
    return [path for path, _, value in zip(fields[0::3], fields[1::3], fields[2::3]) if value != "lfs"]


@pytest.fixture(scope="module")
def checkout():
    if shutil.which("git") is None or subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    return ROOT


def test_no_large_file_outside_lfs(checkout):
    outside = large_files_outside_lfs(checkout)
    assert not outside, (f"over {LIMIT // 10**6} MB and not matched by a filter=lfs line of .gitattributes: {outside}; "
                         "add a pattern there, or keep the file out of git")


def test_the_bundled_weights_are_routed_through_lfs(checkout):
    fields = git(checkout, "check-attr", "-z", "filter", "--", "landmarks/pretrained/model.safetensors",
                 "landmarks/pretrained/model.int8.onnx", "landmarks/pretrained/reference.npz", "app.py").split("\0")
    assert fields[2::3][:4] == ["lfs", "lfs", "lfs", "unspecified"]


def test_the_check_finds_a_large_file_outside_lfs(tmp_path):
    git(tmp_path, "init", "-q")
    shutil.copy(ROOT / ".gitattributes", tmp_path / ".gitattributes")
    for name in ("data.bin.tmp", "weights.safetensors", "small.dat"):
        with open(tmp_path / name, "wb") as f:
            f.truncate(LIMIT + 1 if name != "small.dat" else 100)  # sparse: nothing is written
    assert large_files_outside_lfs(tmp_path) == ["data.bin.tmp"]
    (tmp_path / ".gitignore").write_text("*.tmp\n")  # ignored: git would not add it
    assert large_files_outside_lfs(tmp_path) == []
