"""The built-in catalog: the models Vertex AI serves today and the ids Google shut down.

Every fact names its source (URL, date read, the fields it backs, whose page: `Source`).
Vertex AI's pages decide; what the Gemini Developer API or Firebase say of a model is kept
apart as `other_platforms` notices (information only). Where sources disagree, the note
says so and the table holds the safe value (the one that can neither overcharge a budget
nor send a job to a model Vertex does not confirm). Re-read 2026-12-06 for issue 30; facts
not re-read keep their 2026-11-25 date, and tests/unit/test_catalog_facts.py turns red 90
days after a read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from imagegen.domain.catalog_schema import (
    Lifecycle,
    ModelSpec,
    Platform,
    PlatformNotice,
    RetiredModel,
    Size,
    Source,
)

READ_ON = dt.date(2026, 11, 25)  # the catalog's first reading (issue 14)
REREAD_ON = dt.date(2026, 12, 6)  # the pages re-read for issue 30

# --- Vertex AI (decides) -------------------------------------------------------------------
VERTEX_LIFECYCLE_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/model-versions"
)
NB2_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-1-flash-image"
)
NB2_PREVIEW_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/"
    "3-1-flash-image-preview"
)
PRO_PAGE = "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-pro-image"
LITE_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/"
    "3-1-flash-lite-image"
)
NB25_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/2-5-flash-image"
BATCH_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/reference/models/"
    "batch-prediction-api"
)
PROVISIONED_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/"
    "provisioned-throughput/gemini-3-nano-banana-models"
)
RATIO_ENUM_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/reference/rest/"
    "Shared.Types/AspectRatio"
)
PRICING_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"
IMAGEN_PAGE = "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/image/overview"
VERTEX_DEPRECATIONS_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/docs/deprecations"
# --- other platforms (information only) ----------------------------------------------------
SIZES_PAGE = "https://ai.google.dev/gemini-api/docs/image-generation#aspect-ratios-and-image-size"
LITE_API_PAGE = "https://ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-lite-image"
CHANGELOG_PAGE = "https://ai.google.dev/gemini-api/docs/changelog"
DEPRECATIONS_PAGE = "https://ai.google.dev/gemini-api/docs/deprecations"
MIGRATION_PAGE = "https://firebase.google.com/docs/ai-logic/imagen-models-migration"
GENAI_TYPES = "https://github.com/googleapis/python-genai/blob/v3.6.1/google/genai/types.py"
# --- third parties: only where no Google page was found, and said so ----------------------
LITELLM_NB21 = "https://github.com/BerriAI/litellm/discussions/44983"
INFERENCE_NB21 = "https://inference.sh/apps/google/gemini-nano-banana-2-1"
XAVIER_NB25 = "https://docs.dev.xavier.icvr.xyz/models/google/gemini-2.5-flash.html"
# Content Credentials (C2PA), read 2026-12-06: Vertex adds them, "signed by Google LLC", to
# media of "a supported Google model" (the page read does not list the models); Google's
# announcement of 2025-11-20 names Nano Banana Pro images "in the Gemini app, Vertex AI and
# Google Ads" (several reports of it agree); the Lite page says "SynthID + C2PA".
CONTENT_CREDENTIALS_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/content-credentials"
)
C2PA_PRO_ANNOUNCEMENT = "https://blog.google/technology/ai/ai-image-verification-gemini-app"


def _vertex(fact: str, url: str, fields: tuple[str, ...], read: dt.date = REREAD_ON) -> Source:
    return Source(fact=fact, url=url, read=read, fields=fields, platform=Platform.VERTEX)


def _other(
    platform: Platform, fact: str, url: str, fields: tuple[str, ...], read: dt.date = REREAD_ON
) -> Source:
    return Source(fact=fact, url=url, read=read, fields=fields, platform=platform)


# Pixel sizes per image size and aspect ratio (SIZES_PAGE, the Gemini 3.x image table; the
# 2K and 4K rows are exactly twice and four times 1K, 512 half of it).
_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "1:4": (512, 2048),
    "1:8": (384, 3072),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:1": (2048, 512),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "8:1": (3072, 384),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
CLASSIC_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
ALL_RATIOS = tuple(_1K)  # the 14 ratios, in SIZES_PAGE order
# Gemini 2.5 Flash Image: one size, its own table (1290 output tokens each).
NB25_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


def _table(ratios: tuple[str, ...], factor: float) -> dict[str, Size]:
    return {r: (int(_1K[r][0] * factor), int(_1K[r][1] * factor)) for r in ratios}


NB2_SIZES: dict[str, dict[str, Size]] = {
    # 21:9 at 512 is listed as 792x168 on SIZES_PAGE, which is not 21:9 (792x336 would be):
    # not offered until Google's table is consistent.
    "512": _table(tuple(r for r in ALL_RATIOS if r != "21:9"), 0.5),
    "1K": _table(ALL_RATIOS, 1),
    "2K": _table(ALL_RATIOS, 2),
    "4K": _table(ALL_RATIOS, 4),
}
NB21_SIZES = {
    size: _table(ALL_RATIOS, factor) for size, factor in (("1K", 1), ("2K", 2), ("4K", 4))
}
PRO_SIZES = {size: _table(CLASSIC_RATIOS, f) for size, f in (("1K", 1), ("2K", 2), ("4K", 4))}
LITE_SIZES = {"1K": _table(ALL_RATIOS, 1)}


def _price(tokens: dict[str, int], usd_per_million: float) -> dict[str, float]:
    return {size: round(n * usd_per_million / 1_000_000, 6) for size, n in tokens.items()}


def _billing(
    output_tokens: dict[str, int], input_image_tokens: int, usd_out: float, usd_in: float
) -> dict[str, Any]:
    """A model's token counts and the prices they make: tokens x the per-1M-token rate of
    image output (`usd_out`) and of input (`usd_in`), per size and per input image."""
    return {
        "output_tokens": output_tokens,
        "input_image_tokens": input_image_tokens,
        "price_usd_per_image": _price(output_tokens, usd_out),
        "price_usd_per_input_image": _price({"in": input_image_tokens}, usd_in)["in"],
    }


_SIZES_FACT = _other(
    Platform.GEMINI_API,
    "pixel size of every size x aspect ratio (the Gemini 3.x table; Vertex's model pages "
    "list ratios and sizes, not pixels)",
    SIZES_PAGE,
    ("sizes",),
    READ_ON,
)
_OPTIONS_FACT = _other(
    Platform.SDK,
    "ImageConfig person_generation, prominent_people, output_mime_type, "
    "output_compression_quality: Vertex AI only ('not supported in Gemini API'); no "
    "per-model restriction documented",
    GENAI_TYPES,
    ("person_generation", "prominent_people", "output_mime_types"),
)
# Issue 29: the model pages of Nano Banana 2 and Pro list "Batch inference" among their
# security controls (read 2026-12-06); Nano Banana 2.1 heads the batch page's supported
# models. No Vertex page read says so of Lite or of gemini-2.5-flash-image: not batched.
_BATCH_LISTED = "the model page lists 'Batch inference' among its security controls"
_VERTEX_LATER = (
    "Vertex AI lifecycle table, Gemini image models: release date; retirement "
    "'{date} or later' (no earlier than)"
)

NB2 = ModelSpec(
    id="gemini-3.1-flash-image",
    display_name="Gemini 3.1 Flash Image (Nano Banana 2)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 5, 28),
    retirement_not_before=dt.date(2027, 5, 28),
    locations=["global"],
    default_location="global",
    sizes=NB2_SIZES,
    preview_sizes=["4K"],
    thinking=True,
    thinking_levels=["minimal", "high"],
    google_search=True,
    prominent_people=True,
    **_billing({"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}, 1120, 60.0, 0.50),
    batch_prediction=True,
    sources=[
        _vertex(
            "GA 2026-05-28; global only; 14 images a prompt; resolutions 512, 1K, 2K, "
            "4K (Preview); ratios incl. 1:4, 4:1, 1:8, 8:1; image/png and image/jpeg out",
            NB2_PAGE,
            ("lifecycle", "locations", "max_reference_images", "preview_sizes"),
        ),
        _vertex(
            _VERTEX_LATER.format(date="May 28, 2027"),
            VERTEX_LIFECYCLE_PAGE,
            ("release_date", "retirement_not_before"),
        ),
        _SIZES_FACT,
        _vertex("aspect ratios 1:4, 4:1, 1:8, 8:1 in the API enum", RATIO_ENUM_PAGE, ()),
        _other(
            Platform.FIREBASE,
            "thinking levels MINIMAL and HIGH (Imagen replacement table)",
            MIGRATION_PAGE,
            ("thinking", "thinking_levels"),
        ),
        _vertex("Grounding with Google Search; thinking", NB2_PAGE, ("google_search",)),
        _vertex(
            "$60 per 1M image output tokens, $0.50 per 1M input; 747/1120/1680/2520 "
            "tokens an image at 512/1K/2K/4K, 1120 an input image",
            PRICING_PAGE,
            (
                "output_tokens",
                "input_image_tokens",
                "price_usd_per_image",
                "price_usd_per_input_image",
            ),
            READ_ON,
        ),
        _vertex("image/png, image/jpeg output", NB2_PAGE, ("output_mime_types",)),
        _vertex(_BATCH_LISTED, NB2_PAGE, ("batch_prediction",), READ_ON),
        _OPTIONS_FACT,
    ],
    other_platforms=[
        PlatformNotice(
            platform=Platform.GEMINI_API,
            notice="deprecated on the Gemini Developer API on 2026-10-06 (no shutdown date "
            "announced there; third parties report 2026-10-29): migrate to "
            "gemini-nano-banana-2.1. Vertex AI keeps it until 2027-05-28 or later.",
            date=dt.date(2026, 10, 6),
            replacement="gemini-nano-banana-2.1",
            url=CHANGELOG_PAGE,
            read=REREAD_ON,
        )
    ],
    notes=(
        "SynthID is always embedded. Sources disagree on 9:21: the GA model page lists it, the "
        "API's AspectRatio enum does not, so it is not offered. 21:9 at 512 is listed as "
        "792x168 (not 21:9) and is not offered."
    ),
)

NB21 = ModelSpec(
    id="gemini-nano-banana-2.1",
    display_name="Gemini Nano Banana 2.1",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 10, 6),
    locations=["global"],
    default_location="global",
    sizes=NB21_SIZES,
    thinking=True,
    thinking_levels=["minimal", "high"],
    google_search=True,
    prominent_people=True,
    # 1K: $0.0336 (1120 tokens at $30/1M); 4K: $0.1134 (3780 tokens). 2K: no source gives
    # it; the 4K count is used (an upper bound: a budget is never under-reserved).
    **_billing({"1K": 1120, "2K": 3780, "4K": 3780}, 1120, 30.0, 1.50),
    batch_prediction=True,
    sources=[
        _other(
            Platform.GEMINI_API,
            "GA 2026-10-06, the update of gemini-3.1-flash-image; 1K, 2K and 4K; the wide "
            "ratios 1:4, 4:1, 1:8, 8:1 at every size (14 ratios, no 512)",
            CHANGELOG_PAGE,
            ("lifecycle", "release_date"),
        ),
        _vertex(
            "served on Vertex AI: first of the batch-prediction supported models",
            BATCH_PAGE,
            ("batch_prediction",),
        ),
        _vertex(
            "served on Vertex AI: Provisioned Throughput quota windows for Gemini Nano Banana 2.1",
            PROVISIONED_PAGE,
            (),
        ),
        _vertex(
            "assumed from gemini-3.1-flash-image, whose update it is: global only, 14 "
            "images a prompt, image/png and image/jpeg out (the Vertex model page of 2.1 "
            "was not among the copies read)",
            NB2_PAGE,
            ("locations", "max_reference_images", "output_mime_types"),
        ),
        _other(
            Platform.GEMINI_API,
            "sizes 1K/2K/4K at 14 ratios; pixels assumed from the Gemini 3.x table",
            SIZES_PAGE,
            ("sizes",),
        ),
        _other(
            Platform.FIREBASE,
            "Imagen replacement table (newest copy): imagen-4.0-fast -> gemini-nano-banana-2.1 "
            "at MINIMAL, imagen-4.0 -> at HIGH",
            MIGRATION_PAGE,
            ("thinking", "thinking_levels"),
        ),
        _other(
            Platform.THIRD_PARTY,
            "image output $30 per 1M tokens ($0.0336 a 1K image), text input $1.50 per 1M "
            "(no Google price page for 2.1 was among the copies read; input image tokens "
            "assumed as gemini-3.1-flash-image: 1120)",
            LITELLM_NB21,
            ("price_usd_per_image", "price_usd_per_input_image", "input_image_tokens"),
        ),
        _other(
            Platform.THIRD_PARTY,
            "$0.0336-$0.1134 an image (1K-4K) via Vertex AI; web search grounding",
            INFERENCE_NB21,
            ("output_tokens", "google_search"),
        ),
        _OPTIONS_FACT,
    ],
    other_platforms=[
        PlatformNotice(
            platform=Platform.GEMINI_API,
            notice="GA on the Gemini Developer API on 2026-10-06, the successor of "
            "gemini-3.1-flash-image",
            date=dt.date(2026, 10, 6),
            url=CHANGELOG_PAGE,
            read=REREAD_ON,
        )
    ],
    notes=(
        "Vertex AI serves it (batch-prediction and Provisioned Throughput pages) but its "
        "Vertex model page and lifecycle row were not among the copies read: the stage and "
        "release date are the Gemini API's, locations and limits are assumed from "
        "gemini-3.1-flash-image, prices are third parties' (2K priced as 4K: no source). "
        "An admin corrects any of it with `imagegen catalog set` once Vertex publishes it."
    ),
)

PRO = ModelSpec(
    id="gemini-3-pro-image",
    display_name="Gemini 3 Pro Image (Nano Banana Pro)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 5, 28),
    retirement_not_before=dt.date(2027, 5, 28),
    # The model page lists global and US regions; only those read in full are listed here.
    locations=["global", "us-central1", "us-east1"],
    default_location="global",
    sizes=PRO_SIZES,
    preview_sizes=["4K"],
    thinking=True,  # always thinks; no thinking level documented for this model
    google_search=True,
    prominent_people=True,
    c2pa_content_credentials=True,
    **_billing({"1K": 1120, "2K": 1120, "4K": 2000}, 560, 120.0, 2.0),
    batch_prediction=True,
    sources=[
        _vertex(
            "C2PA Content Credentials signed by Google in Nano Banana Pro images on Vertex AI "
            "(Google's announcement; Vertex's Content Credentials page does not list models)",
            C2PA_PRO_ANNOUNCEMENT,
            ("c2pa_content_credentials",),
        ),
        _vertex(
            "Vertex adds Content Credentials signed by Google LLC to supported models' media",
            CONTENT_CREDENTIALS_PAGE,
            (),
        ),
        _vertex(
            "GA; 14 reference images; 10 aspect ratios; 1K/2K, 4K in Preview; global, "
            "us-central1, us-east1; thinking; Google Search grounding; png/jpeg out",
            PRO_PAGE,
            (
                "lifecycle",
                "locations",
                "max_reference_images",
                "preview_sizes",
                "thinking",
                "google_search",
                "output_mime_types",
            ),
            READ_ON,
        ),
        _vertex(
            _VERTEX_LATER.format(date="May 28, 2027"),
            VERTEX_LIFECYCLE_PAGE,
            ("release_date", "retirement_not_before"),
        ),
        _SIZES_FACT,
        _vertex(
            "$120 per 1M image output tokens, $2 per 1M input; 1120 (1K, 2K) / 2000 (4K) "
            "tokens an image, 560 an input image",
            PRICING_PAGE,
            (
                "output_tokens",
                "input_image_tokens",
                "price_usd_per_image",
                "price_usd_per_input_image",
            ),
            READ_ON,
        ),
        _vertex(_BATCH_LISTED, PRO_PAGE, ("batch_prediction",), READ_ON),
        _OPTIONS_FACT,
    ],
    notes=(
        "SynthID is always embedded; thinking model (thought summaries on request). The model "
        "page's region list was cut off after us-east1 in the copy read: only the regions read "
        "are offered; add others through the catalog overlay once confirmed."
    ),
)

LITE = ModelSpec(
    id="gemini-3.1-flash-lite-image",
    display_name="Gemini 3.1 Flash-Lite Image (Nano Banana 2 Lite)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 6, 23),
    retirement_not_before=dt.date(2027, 6, 28),
    locations=["global"],
    default_location="global",
    sizes=LITE_SIZES,
    thinking=False,
    thinking_levels=["minimal", "high"],
    google_search=False,
    prominent_people=True,
    c2pa_content_credentials=True,
    **_billing({"1K": 1120}, 1120, 30.0, 0.25),
    sources=[
        _vertex(
            "GA; global; 1K only; 14 reference images; 14 aspect ratios (1:4, 4:1, 1:8, 8:1 "
            "included); SynthID and C2PA Content Credentials; png/jpeg out",
            LITE_PAGE,
            (
                "lifecycle",
                "locations",
                "max_reference_images",
                "c2pa_content_credentials",
                "output_mime_types",
            ),
            READ_ON,
        ),
        _vertex(
            _VERTEX_LATER.format(date="June 28, 2027"),
            VERTEX_LIFECYCLE_PAGE,
            ("release_date", "retirement_not_before"),
        ),
        _SIZES_FACT,
        _other(
            Platform.GEMINI_API,
            "thinking levels minimal and high; no Google Search grounding; 1K only",
            LITE_API_PAGE,
            ("thinking_levels",),
            READ_ON,
        ),
        _vertex(
            "$30 per 1M image output tokens ($0.0336 a 1K image), $0.25 per 1M input",
            PRICING_PAGE,
            (
                "output_tokens",
                "input_image_tokens",
                "price_usd_per_image",
                "price_usd_per_input_image",
            ),
            READ_ON,
        ),
        _OPTIONS_FACT,
    ],
    other_platforms=[
        PlatformNotice(
            platform=Platform.GEMINI_API,
            notice="the Gemini API's model page lists 10 aspect ratios (Vertex AI's: 14)",
            url=LITE_API_PAGE,
            read=READ_ON,
        )
    ],
    notes=(
        "Sources disagree on ratios: the Vertex page lists 14 (with 1:4, 4:1, 1:8, 8:1), the "
        "Gemini API page 10; Vertex decides: 14. Release date: Vertex's lifecycle table says "
        "2026-06-23, the copy of the model page read on 2026-11-25 said 2026-06-30; the "
        "lifecycle table is the newer read."
    ),
)

NB25 = ModelSpec(
    id="gemini-2.5-flash-image",
    display_name="Gemini 2.5 Flash Image (Nano Banana)",
    lifecycle=Lifecycle.DEPRECATED,
    release_date=dt.date(2025, 10, 2),
    shutdown_date=dt.date(2027, 3, 15),
    replacement=LITE.id,
    locations=[
        "global",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-south1",
        "us-west1",
        "us-west4",
        "europe-central2",
        "europe-north1",
        "europe-southwest1",
        "europe-west1",
        "europe-west4",
        "europe-west8",
    ],
    default_location="global",
    sizes={"1K": NB25_1K},
    max_reference_images=3,
    thinking=False,
    google_search=False,
    prominent_people=True,
    **_billing({"1K": 1290}, 1290, 30.0, 0.30),
    sources=[
        _vertex(
            "legacy model: released 2025-10-02, retires 2027-03-15, replacement "
            "gemini-3.1-flash-lite-image; new access is blocked one month before retirement",
            VERTEX_LIFECYCLE_PAGE,
            ("lifecycle", "release_date", "shutdown_date", "replacement"),
        ),
        _vertex(
            "GA; global and 13 US/EU regions; 3 images a prompt; 10 aspect ratios; "
            "png/jpeg out (read through a mirror of the page)",
            NB25_PAGE,
            ("locations", "max_reference_images", "output_mime_types"),
        ),
        _vertex(
            "served: Provisioned Throughput quota windows for Gemini 2.5 Flash Image",
            PROVISIONED_PAGE,
            (),
        ),
        _other(
            Platform.GEMINI_API,
            "the Gemini 2.5 Flash Image table: 1K only, 10 ratios, 1290 tokens each (read "
            "through a copy of the page at docs.gptproto.com)",
            SIZES_PAGE,
            ("sizes",),
        ),
        _other(
            Platform.THIRD_PARTY,
            "$30 per 1M output tokens, $0.30 per 1M input (1290 tokens: $0.0387 an image); "
            "Vertex's pricing page for 2.5 Flash Image was not among the copies read",
            XAVIER_NB25,
            (
                "output_tokens",
                "input_image_tokens",
                "price_usd_per_image",
                "price_usd_per_input_image",
            ),
        ),
        _OPTIONS_FACT,
    ],
    other_platforms=[
        PlatformNotice(
            platform=Platform.GEMINI_API,
            notice="shutdown 'earliest October 2026' on the Gemini Developer API (Vertex AI "
            "serves it until 2027-03-15)",
            date=dt.date(2026, 10, 2),
            url=DEPRECATIONS_PAGE,
            read=REREAD_ON,
        )
    ],
    notes=(
        "Served as asked, with a deprecation warning, until Vertex's date; routed to its "
        "replacement from 2027-03-15 or at its first 404 everywhere. Vertex blocks new access "
        "a month before retirement and may restrict legacy models for new projects: a 404 "
        "everywhere for this project retires it here even while Model Garden lists it."
    ),
)

BUILTIN_MODELS: tuple[ModelSpec, ...] = (NB2, NB21, LITE, PRO, NB25)
# The default: Vertex confirms gemini-3.1-flash-image in `global` (the default location)
# with retirement no earlier than 2027-05-28; Nano Banana 2.1 is better and half the price
# but its Vertex model page was not among the copies read (docs/architecture.md, issue 30).
DEFAULT_MODEL = NB2.id

# --- ids Google shut down --------------------------------------------------------------------
_IMAGEN_VERTEX = dt.date(2026, 6, 30)  # Vertex's Imagen pages: "update before June 30, 2026"
_IMAGEN_1_2 = dt.date(2025, 9, 24)  # Vertex deprecations: Imagen 1 and 2, captioning removed
_IMAGEN_SOURCES = [
    _vertex(
        "every Imagen endpoint discontinued (imagegeneration@002-@006, imagetext@001, "
        "imagen-3.0-*, imagen-4.0-*); update before June 30, 2026; Vertex recommends "
        "gemini-2.5-flash-image for all",
        IMAGEN_PAGE,
        ("shutdown_date",),
    ),
    _other(
        Platform.FIREBASE,
        "replacement table: imagen-4.0-fast -> MINIMAL, imagen-4.0 -> HIGH, imagen-4.0-ultra "
        "-> gemini-3-pro-image, imagen-3.0-capability -> no level (copies differ on the "
        "Flash model: gemini-3.1-flash-image, newest gemini-nano-banana-2.1)",
        MIGRATION_PAGE,
        ("replacement", "thinking_level"),
    ),
]
_IMAGEN_1_2_SOURCE = _vertex(
    "Imagen 1 and 2 (imagegeneration@002, @005, @006) and image captioning deprecated "
    "2025-06-24, removed 2025-09-24",
    VERTEX_DEPRECATIONS_PAGE,
    ("shutdown_date",),
)
_IMAGEN_OTHER = [
    PlatformNotice(
        platform=Platform.FIREBASE,
        notice="every Imagen model shut down 'as early as' 2026-08-17 (earlier copies: "
        "2026-06-24, 2026-06-30); the newest copy names gemini-nano-banana-2.1",
        date=dt.date(2026, 8, 17),
        replacement="gemini-nano-banana-2.1",
        url=MIGRATION_PAGE,
        read=REREAD_ON,
    ),
    PlatformNotice(
        platform=Platform.GEMINI_API,
        notice="Imagen 4 deprecated 2026-06-15, shut down 2026-08-17",
        date=dt.date(2026, 8, 17),
        url=CHANGELOG_PAGE,
        read=REREAD_ON,
    ),
]
_IMAGEN_NOTE = (
    "Replacements disagree: Vertex's Imagen pages name gemini-2.5-flash-image (which Vertex "
    "itself retires on 2027-03-15), Firebase's newest table gemini-nano-banana-2.1, its "
    "earlier copies gemini-3.1-flash-image. Routed to gemini-3.1-flash-image: Vertex "
    "confirms it in the default location with the latest announced retirement. Imagen 1-3 "
    "generation ids are routed like imagen-4.0 (HIGH)."
)


def _imagen(
    model_id: str,
    name: str,
    replacement: str,
    level: str | None,
    shut: dt.date = _IMAGEN_VERTEX,
) -> RetiredModel:
    sources = [*_IMAGEN_SOURCES, *([_IMAGEN_1_2_SOURCE] if shut == _IMAGEN_1_2 else [])]
    return RetiredModel(
        id=model_id,
        display_name=name,
        shutdown_date=shut,
        replacement=replacement,
        thinking_level=level,
        takes_imagen_parameters=True,
        other_platforms=_IMAGEN_OTHER,
        sources=sources,
        notes=_IMAGEN_NOTE,
    )


_PREVIEW_SOURCE = _vertex(
    "preview ids discontinued on Vertex AI: replace before 2026-07-17",
    NB2_PREVIEW_PAGE,
    ("shutdown_date", "replacement"),
    READ_ON,
)
_PREVIEW_OTHER = [
    PlatformNotice(
        platform=Platform.GEMINI_API,
        notice="shut down on the Gemini Developer API on 2026-06-25",
        date=dt.date(2026, 6, 25),
        url=DEPRECATIONS_PAGE,
        read=REREAD_ON,
    )
]

RETIRED_MODELS: tuple[RetiredModel, ...] = (
    _imagen("imagegeneration@002", "Imagen 1 (002)", NB2.id, "high", _IMAGEN_1_2),
    _imagen("imagegeneration@003", "Imagen 2 (003)", NB2.id, "high"),
    _imagen("imagegeneration@004", "Imagen 2 (004)", NB2.id, "high"),
    _imagen("imagegeneration@005", "Imagen 2 (005)", NB2.id, "high", _IMAGEN_1_2),
    _imagen("imagegeneration@006", "Imagen 2 (006)", NB2.id, "high", _IMAGEN_1_2),
    _imagen("imagen-3.0-generate-001", "Imagen 3", NB2.id, "high"),
    _imagen("imagen-3.0-generate-002", "Imagen 3 (002)", NB2.id, "high"),
    _imagen("imagen-3.0-fast-generate-001", "Imagen 3 Fast", NB2.id, "high"),
    _imagen("imagen-3.0-capability-001", "Imagen 3 Capability", NB2.id, None),
    _imagen("imagen-3.0-capability-002", "Imagen 3 Capability (002)", NB2.id, None),
    _imagen("imagen-4.0-generate-001", "Imagen 4", NB2.id, "high"),
    _imagen("imagen-4.0-fast-generate-001", "Imagen 4 Fast", NB2.id, "minimal"),
    _imagen("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", PRO.id, None),
    RetiredModel(
        id="imagetext@001",
        display_name="Imagen image captioning (imagetext@001)",
        shutdown_date=_IMAGEN_1_2,
        replacement=None,
        purpose="image captioning and visual question answering (image in, text out)",
        sources=[_IMAGEN_1_2_SOURCE],
        notes="It never generated images: no image model can serve its requests.",
    ),
    RetiredModel(
        id="gemini-3-pro-image-preview",
        display_name="Gemini 3 Pro Image Preview",
        shutdown_date=dt.date(2026, 7, 17),
        replacement=PRO.id,
        other_platforms=_PREVIEW_OTHER,
        sources=[_PREVIEW_SOURCE],
    ),
    RetiredModel(
        id="gemini-3.1-flash-image-preview",
        display_name="Gemini 3.1 Flash Image Preview",
        shutdown_date=dt.date(2026, 7, 17),
        replacement=NB2.id,
        other_platforms=_PREVIEW_OTHER,
        sources=[_PREVIEW_SOURCE],
    ),
)
