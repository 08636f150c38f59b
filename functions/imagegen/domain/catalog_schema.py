"""The shape of the model catalog: what is known about one model and where each fact was read.

A fact the code relies on (a date, a location, a size, a price, an option) names its
source: the page (URL), the date it was read, the `ModelSpec` fields it backs and whose
page it is (`Platform`). Vertex AI's own pages decide: the Gemini Developer API and Firebase
keep different dates and lineups, so what they say about a model is kept apart, for
information only, as `PlatformNotice`s. tests/unit/test_catalog_facts.py fails when a
built-in model has a fact no source backs, or a source read more than 90 days ago.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

Size = tuple[int, int]
SOURCE_MAX_AGE = dt.timedelta(days=90)  # an older read is stale: re-read the page


class Lifecycle(StrEnum):
    """The model's stage on Vertex AI."""

    GA = "ga"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"  # Vertex announced a retirement date (a "legacy" model)


class Platform(StrEnum):
    """Whose page a fact comes from."""

    VERTEX = "vertex_ai"  # decides
    GEMINI_API = "gemini_api"
    FIREBASE = "firebase_ai_logic"
    SDK = "google_genai_sdk"
    THIRD_PARTY = "third_party"  # used only where no Google page was found; says so


class Source(BaseModel):
    """Where a fact was read, when, and which fields of the model it backs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fact: str
    url: str
    read: dt.date
    fields: tuple[str, ...] = ()
    platform: Platform = Platform.VERTEX


class PlatformNotice(BaseModel):
    """What another platform (the Gemini Developer API, Firebase) says of a model: shown,
    never acted on. Vertex AI's own dates decide routing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: Platform
    notice: str
    date: dt.date | None = None
    replacement: str | None = None
    url: str
    read: dt.date


# The ModelSpec fields that state a fact about Google's model (the rest are this service's
# own choices: defaults, display name, notes). Each truthy one of a built-in model must be
# backed by a source; an absence (None, False, empty) needs none.
FACT_FIELDS = (
    "lifecycle",
    "release_date",
    "shutdown_date",
    "retirement_not_before",
    "locations",
    "sizes",
    "preview_sizes",
    "max_reference_images",
    "thinking",
    "thinking_levels",
    "google_search",
    "output_mime_types",
    "output_tokens",
    "input_image_tokens",
    "price_usd_per_image",
    "price_usd_per_input_image",
    "replacement",
    "c2pa_content_credentials",
    "prominent_people",
    "person_generation",
    "batch_prediction",
)
RETIRED_FACT_FIELDS = ("shutdown_date", "replacement", "thinking_level")


class ModelSpec(BaseModel):
    """Everything the service needs to know about one model id Vertex AI serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    lifecycle: Lifecycle  # the stage on Vertex AI
    release_date: dt.date | None = None  # on Vertex AI
    # Vertex AI's retirement date: the model is served (with a deprecation warning) until
    # then, and routed to `replacement` from that day (or at its first 404 everywhere).
    shutdown_date: dt.date | None = None
    # Vertex AI's "retirement: <date> or later" (no earlier than): information, no routing.
    retirement_not_before: dt.date | None = None
    locations: list[str] = Field(min_length=1)
    default_location: str
    # size name ("512", "1K", "2K", "4K") -> aspect ratio -> (width, height)
    sizes: dict[str, dict[str, Size]]
    default_size: str = "1K"
    preview_sizes: list[str] = Field(default_factory=list)  # sizes Google still calls Preview
    max_images: int = Field(ge=1, default=4)  # images a job may ask for (one call each)
    max_reference_images: int = Field(ge=0, default=14)
    max_prompt_chars: int = 8000
    seed: bool = True  # generationConfig.seed
    multi_turn: bool = True
    thinking: bool = False  # can return thought summaries (include_thoughts)
    thinking_levels: list[str] = Field(default_factory=list)  # accepted thinkingLevel values
    google_search: bool = False  # tools: [{googleSearch: {}}]
    output_mime_types: list[str] = Field(default_factory=lambda: ["image/png", "image/jpeg"])
    # imageConfig options the model takes (Vertex AI only; google-genai's ImageConfig)
    person_generation: bool = True  # imageConfig.personGeneration
    prominent_people: bool = False  # imageConfig.prominentPeople
    # Vertex attaches C2PA Content Credentials signed by Google to the model's images
    # (false where no Google page says so; the provenance work of issue 25 reads this)
    c2pa_content_credentials: bool = False
    # Vertex AI batch prediction serves the model (issue 29): a batch's items on it go to one
    # BatchPredictionJob at the batch price (domain/batch_facts.py); false where no Vertex
    # page says so, and then its items fan out into ordinary jobs at the online price
    batch_prediction: bool = False
    output_tokens: dict[str, int] = Field(default_factory=dict)  # per generated image, by size
    input_image_tokens: int = 0
    price_usd_per_image: dict[str, float]  # by size name
    price_usd_per_input_image: float = 0.0
    replacement: str | None = None  # Vertex AI's recommended replacement
    other_platforms: list[PlatformNotice] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    notes: str = ""

    @property
    def aspect_ratios(self) -> list[str]:
        """Every ratio some size offers, in the table's order."""
        out: dict[str, None] = {}
        for table in self.sizes.values():
            out.update(dict.fromkeys(table))
        return list(out)

    def pixel_size(self, aspect_ratio: str, size: str) -> Size:
        return self.sizes[size][aspect_ratio]

    def price(self, size: str) -> float:
        return self.price_usd_per_image[size]

    def size_of(self, width: int, height: int) -> str | None:
        """The size name whose table holds exactly these pixels, if any."""
        for name, table in self.sizes.items():
            if (width, height) in table.values():
                return name
        return None

    def nearest_size(self, width: int, height: int) -> str:
        """The size name closest in pixel count (pricing an image the table does not list)."""
        pixels = width * height

        def distance(name: str) -> float:
            w, h = next(iter(self.sizes[name].values()))
            return abs(w * h - pixels)

        return min(self.sizes, key=distance)

    def priced_as(
        self, size: str, ratio: str | None, width: int, height: int, index: int
    ) -> tuple[str, str | None]:
        """The size an image delivered at width x height is billed at, and a warning when
        it is not the `size` (and `ratio`; none: any shape at that size) asked for: users of
        the Gemini APIs report imageSize being silently ignored. One rule for an online
        job's images (services/keeper.py) and a batch item's (services/batch_results.py)."""
        table = self.sizes.get(size, {})
        if ratio:
            want = table.get(ratio)
            fits = want == (width, height)
            asked = f"{size} {ratio}" + (f" ({want[0]}x{want[1]})" if want else "")
        else:
            fits = (width, height) in table.values()
            asked = f"{size} (the input's shape)"
        if fits:
            return size, None
        priced = self.size_of(width, height) or self.nearest_size(width, height)
        return priced, (
            f"image {index} was delivered at {width}x{height}, not the {asked} asked for; "
            f"priced as {priced}"
        )

    def retired(self, today: dt.date) -> bool:
        """Past Vertex AI's retirement date: requests go to the replacement."""
        return self.shutdown_date is not None and today >= self.shutdown_date

    def deprecation(self, today: dt.date) -> dict[str, str | None] | None:
        """Vertex AI's retirement notice for a model it still serves (date, recommended
        replacement, message), for the job's warnings and `GET /v1/models`; None when
        Vertex announced no retirement date, or it has passed."""
        if self.shutdown_date is None or self.retired(today):
            return None
        instead = f"; recommended replacement: {self.replacement}" if self.replacement else ""
        return {
            "retirement_date": self.shutdown_date.isoformat(),
            "replacement": self.replacement,
            "message": (
                f"model {self.id} is deprecated on Vertex AI and retires on "
                f"{self.shutdown_date.isoformat()}{instead}"
            ),
        }

    def deprecation_warning(self, today: dt.date) -> str | None:
        notice = self.deprecation(today)
        if notice is not None:
            return notice["message"]
        if self.lifecycle is Lifecycle.DEPRECATED:
            return f"model {self.id} is deprecated on Vertex AI"
        return None


class RetiredModel(BaseModel):
    """A model id Google has shut down, and what serves its requests now (None: nothing can,
    e.g. a captioning model: such a request is refused with the reason)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    shutdown_date: dt.date  # on Vertex AI
    replacement: str | None
    thinking_level: str | None = None  # the level Google's migration table pairs with it
    takes_imagen_parameters: bool = False  # negative_prompt, enhance_prompt, language, ...
    purpose: str = "image generation"  # what the model did; a non-generation one is refused
    other_platforms: list[PlatformNotice] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    notes: str = ""


def unsourced_facts(model: ModelSpec | RetiredModel) -> list[str]:
    """The fact fields of a model that no source backs (truthy values only)."""
    names = FACT_FIELDS if isinstance(model, ModelSpec) else RETIRED_FACT_FIELDS
    backed = {field for source in model.sources for field in source.fields}
    return [name for name in names if getattr(model, name) and name not in backed]


def stale_sources(model: ModelSpec | RetiredModel, today: dt.date) -> list[Source]:
    """The model's sources read more than SOURCE_MAX_AGE before `today`."""
    return [s for s in model.sources if today - s.read > SOURCE_MAX_AGE]
