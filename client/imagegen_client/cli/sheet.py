"""Contact sheets: the images of some jobs as thumbnails in a grid, each captioned with its
model, size, job id and prompt. Pillow is imported when a sheet is drawn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen_client.client import Client

if TYPE_CHECKING:
    from PIL import Image as PILImage

SHEET_PAD = 16
CAPTION_LINE = 18
CAPTION_LINES = 3
CAPTION_HEIGHT = CAPTION_LINES * CAPTION_LINE + 8
SHEET_BACKGROUND = (24, 24, 28)


@dataclass(frozen=True)
class SheetLayout:
    columns: int
    rows: int
    thumb: int
    width: int
    height: int

    def cell(self, index: int) -> tuple[int, int]:
        """Top-left corner of the thumbnail box of image `index`."""
        row, col = divmod(index, self.columns)
        return (
            SHEET_PAD + col * (self.thumb + SHEET_PAD),
            SHEET_PAD + row * (self.thumb + CAPTION_HEIGHT + SHEET_PAD),
        )


def sheet_layout(count: int, columns: int = 3, thumb: int = 384) -> SheetLayout:
    """The grid for `count` images: its size depends only on count, columns and thumb."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one image")
    if columns < 1 or thumb < 16:
        raise ValueError("columns must be at least 1 and thumb at least 16 px")
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    width = SHEET_PAD + cols * (thumb + SHEET_PAD)
    height = SHEET_PAD + rows * (thumb + CAPTION_HEIGHT + SHEET_PAD)
    return SheetLayout(cols, rows, thumb, width, height)


@dataclass(frozen=True)
class SheetItem:
    image: PILImage.Image
    caption: list[str]


def caption_for(job: dict[str, Any], size: tuple[int, int]) -> list[str]:
    request = job.get("request") or {}
    return [
        str(job.get("model") or request.get("model") or "?"),
        f"{size[0]}x{size[1]}  {job.get('id', '')}",
        str(request.get("prompt", "")),
    ]


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    text = " ".join(text.split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def render_sheet(items: list[SheetItem], columns: int = 3, thumb: int = 384) -> PILImage.Image:
    """A contact sheet: thumbnails in a grid, each with its caption lines underneath."""
    from PIL import Image, ImageDraw, ImageFont

    layout = sheet_layout(len(items), columns, thumb)
    sheet = Image.new("RGB", (layout.width, layout.height), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=13)
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    for index, item in enumerate(items):
        x, y = layout.cell(index)
        image = item.image.convert("RGB")
        image.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
        sheet.paste(image, (x + (thumb - image.width) // 2, y + (thumb - image.height) // 2))
        ty = y + thumb + 6
        for n, line in enumerate(item.caption[:CAPTION_LINES]):
            colour = (240, 240, 240) if n == 0 else (170, 170, 178)
            draw.text((x, ty), _fit(draw, line, font, thumb), fill=colour, font=font)
            ty += CAPTION_LINE
    return sheet


def sheet_items(client: Client, jobs: list[dict[str, Any]]) -> list[SheetItem]:
    """Every image of the jobs, in output order, read through the client (signed URL or
    gs://) and captioned."""
    import io

    from PIL import Image

    items = []
    for job in jobs:
        for output in sorted(job.get("outputs") or [], key=lambda o: o.get("index", 0)):
            image = Image.open(io.BytesIO(client.read_output(output)))
            image.load()
            items.append(SheetItem(image, caption_for(job, image.size)))
    return items
