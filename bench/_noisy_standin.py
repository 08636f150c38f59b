"""The Vertex stand-in with incompressible images (bench-only, worst case for memory).

The stock stand-in draws flat placeholders that PNG-compress to a few hundred KB even at
4K; real 4K output is tens of MB. This wrapper swaps its renderer for random pixels, so the
encoded size approaches the raw pixel size (an upper bound for real images), and serves it
unchanged otherwise: `python -m bench._noisy_standin --port P --storage-endpoint URL`.
"""

from __future__ import annotations

import io
import os

import devstack.vertex_standin as standin


def render_noise(
    prompt: str, width: int, height: int, mime: str, quality: int | None, caption: str
) -> bytes:
    from PIL import Image

    img = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    fmt = standin.MIME_FORMATS[mime][0]
    if fmt == "PNG":
        img.save(out, "PNG", compress_level=1)
    else:
        img.save(out, fmt, quality=quality or 90)
    return out.getvalue()


standin.render_image = render_noise

if __name__ == "__main__":
    standin.main()
