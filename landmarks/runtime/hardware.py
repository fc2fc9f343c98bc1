"""What CPU this is, in the words figures need: int8 and bf16 kernels behave differently
across CPUs, so every benchmark and evaluation names the one it ran on."""
from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """Model name and the instruction-set extensions that decide our kernels' speed and results."""
    name, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name in (platform.processor(), platform.machine()):
                name = value.strip()
            elif key in ("flags", "Features") and not flags:  # x86, ARM
                flags = set(value.split())
    return {
        "model": name,
        "machine": platform.machine(),
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        # VNNI: int8 dot products without the 16-bit intermediate that saturates (u8 x s8)
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "bf16": bool({"avx512_bf16", "amx_bf16"} & flags),
        "arm_dotprod": "asimddp" in flags,
    }


def cpu_line() -> str:
    """One line for logs and reports, e.g. ``AMD EPYC (x86_64; AVX2, no AVX-512, no VNNI, no native bf16)``."""
    c = cpu_info()
    if c["machine"] in ("aarch64", "arm64"):
        ext = ["dot product" if c["arm_dotprod"] else "no dot product"]
    else:
        ext = [
            "AVX2" if c["avx2"] else "no AVX2",
            "AVX-512" if c["avx512"] else "no AVX-512",
            "VNNI" if c["vnni"] else "no VNNI",
        ]
    ext.append("native bf16" if c["bf16"] else "no native bf16")
    return f"{c['model']} ({c['machine']}; {', '.join(ext)})"
