"""Building a continued conversation: turns, image limits, signatures, the wire body."""

import base64
import datetime as dt

import pytest

from imagegen.adapters.vertex_wire import gemini_body, read_gemini
from imagegen.domain import conversation
from imagegen.domain.catalog import load_catalog
from imagegen.domain.request import Policy, validate_request
from imagegen.errors import InvalidRequest

CATALOG = load_catalog()


def validated(**body):
    return validate_request(
        {"prompt": "and now in blue", **body},
        CATALOG,
        Policy(reference_buckets=("refs",)),
        dt.date(2026, 11, 25),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _turns(images_per_model_turn: int, rounds: int) -> list[dict]:
    turns = []
    for n in range(rounds):
        turns.append(conversation.user_turn([], f"prompt {n}"))
        images = [
            (f"gs://out/jobs/j{n}/{i}.png", "image/png") for i in range(images_per_model_turn)
        ]
        parts = [{"text": f"reply {n}", "thoughtSignature": f"sig{n}"}]
        parts += [{"image": i} for i in range(images_per_model_turn)]
        turns.append(conversation.model_turn(parts, images))
    return turns


def test_user_and_model_turns_in_vertex_form():
    user = conversation.user_turn([("gs://refs/cat.jpg", "image/jpeg")], "a cat")
    assert user == {
        "role": "user",
        "parts": [
            {"fileData": {"fileUri": "gs://refs/cat.jpg", "mimeType": "image/jpeg"}},
            {"text": "a cat"},
        ],
    }
    model = conversation.model_turn(
        [{"text": "Here", "thoughtSignature": "c2ln"}, {"image": 0, "thoughtSignature": "aW1n"}],
        [("gs://out/jobs/a/0.png", "image/png")],
    )
    assert model == {
        "role": "model",
        "parts": [
            {"text": "Here", "thoughtSignature": "c2ln"},
            {
                "fileData": {"fileUri": "gs://out/jobs/a/0.png", "mimeType": "image/png"},
                "thoughtSignature": "aW1n",
            },
        ],
    }


def test_model_turn_without_parts_falls_back_to_the_first_image():
    turn = conversation.model_turn([], [("gs://o/0.png", "image/png"), ("gs://o/1.png", "x")])
    assert turn["parts"] == [{"fileData": {"fileUri": "gs://o/0.png", "mimeType": "image/png"}}]


def test_trim_drops_oldest_images_first_and_keeps_every_turn():
    turns = _turns(1, 4)  # 4 model images
    trimmed, dropped = conversation.trim_images(turns, 2)
    assert dropped == 2 and conversation.count_images(trimmed) == 2
    assert len(trimmed) == len(turns)
    assert [t["role"] for t in trimmed] == ["user", "model"] * 4
    kept = [p["fileData"]["fileUri"] for t in trimmed for p in t["parts"] if "fileData" in p]
    assert kept == ["gs://out/jobs/j2/0.png", "gs://out/jobs/j3/0.png"]
    assert trimmed[1]["parts"] == [{"text": "reply 0", "thoughtSignature": "sig0"}]
    assert conversation.count_images(turns) == 4  # the input is not changed


def test_a_turn_left_without_parts_gets_a_note():
    turns = [{"role": "model", "parts": [{"fileData": {"fileUri": "gs://o/0.png"}}]}]
    trimmed, dropped = conversation.trim_images(turns, 0)
    assert dropped == 1 and trimmed[0]["parts"] == [{"text": conversation.OMITTED_IMAGE_TEXT}]


def test_continue_from_counts_the_new_references_and_warns():
    turns = _turns(1, 3)
    prefix, warnings = conversation.continue_from(
        turns,
        parent_model="gemini-3.1-flash-image",
        model="gemini-3.1-flash-image",
        max_images=3,
        new_images=2,
    )
    assert conversation.count_images(prefix) == 1
    assert len(warnings) == 1 and "2 oldest image(s)" in warnings[0]
    assert "5 input images" in warnings[0]


def test_continue_from_within_the_limit_changes_nothing():
    turns = _turns(1, 2)
    prefix, warnings = conversation.continue_from(
        turns, parent_model="m", model="m", max_images=3, new_images=0
    )
    assert prefix == turns and warnings == []


def test_another_model_gets_no_signatures_or_thoughts():
    turns = _turns(1, 1)
    turns[1]["parts"].insert(0, {"text": "hm", "thought": True, "thoughtSignature": "x"})
    prefix, warnings = conversation.continue_from(
        turns, parent_model="gemini-3-pro-image-preview", model="m", max_images=14, new_images=0
    )
    assert "thoughtSignature" not in str(prefix) and "thought" not in str(prefix[1])
    assert warnings and "gemini-3-pro-image-preview" in warnings[0]


def test_reconstruct_an_older_job():
    job = {
        "id": "old",
        "request": {
            "prompt": "a fox",
            "reference_images": [{"gcs_uri": "gs://refs/a.jpg"}, {"data": "AAAA"}],
        },
        "text": ["done"],
        "outputs": [{"uri": "gs://out/jobs/old/0.png", "mime_type": "image/png", "index": 0}],
    }
    turns, warnings = conversation.reconstruct(job)
    assert turns == [
        {
            "role": "user",
            "parts": [
                {"fileData": {"fileUri": "gs://refs/a.jpg", "mimeType": "image/jpeg"}},
                {"text": "a fox"},
            ],
        },
        {
            "role": "model",
            "parts": [
                {"text": "done"},
                {"fileData": {"fileUri": "gs://out/jobs/old/0.png", "mimeType": "image/png"}},
            ],
        },
    ]
    assert warnings and "inline" in warnings[0]


def test_gemini_body_prepends_history_and_asks_for_thoughts():
    v = validated(model="gemini-3-pro-image", include_thoughts=True, parent_job_id="p1")
    history = _turns(1, 1)
    body = gemini_body(v.request, v.spec, history)
    assert body["contents"][:2] == history
    assert body["contents"][2] == {"role": "user", "parts": [{"text": "and now in blue"}]}
    assert body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}
    plain = gemini_body(v.request.model_copy(update={"include_thoughts": False}), v.spec)
    assert "thinkingConfig" not in plain["generationConfig"] and len(plain["contents"]) == 1


def test_thoughts_only_on_thinking_models():
    with pytest.raises(InvalidRequest) as err:
        validated(model="gemini-3.1-flash-lite-image", parent_job_id="p1", include_thoughts=True)
    fields = {d["field"] for d in err.value.details}
    assert fields == {"include_thoughts"}
    with pytest.raises(InvalidRequest) as err:
        validated(parent_job_id="not an id!")
    assert err.value.details[0]["field"] == "parent_job_id"
    assert validated(parent_job_id="abc_123").request.parent_job_id == "abc_123"


def test_read_gemini_keeps_thoughts_and_signatures_in_order():
    reply = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "planning", "thought": True},
                        {"text": "Here", "thoughtSignature": "c2lnMQ=="},
                        {
                            "inlineData": {"mimeType": "image/png", "data": _b64(b"img")},
                            "thoughtSignature": "c2lnMg==",
                        },
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    result = read_gemini(reply)
    assert result.thoughts == ["planning"] and result.text == ["Here"]
    assert result.model_parts == [
        {"text": "Here", "thoughtSignature": "c2lnMQ=="},
        {"image": 0, "thoughtSignature": "c2lnMg=="},
    ]


def test_merge_keeps_the_first_reply_with_an_image_as_the_model_turn():
    def reply(text, image=True):
        parts = [{"text": text}]
        if image:
            parts.append({"inlineData": {"mimeType": "image/png", "data": _b64(text.encode())}})
        return read_gemini({"candidates": [{"content": {"parts": parts}}]})

    from imagegen.domain.generation import Generation

    merged = Generation()
    for r in (reply("blocked", image=False), reply("one"), reply("two")):
        merged.merge(r)
    assert merged.model_parts == [{"text": "one"}, {"image": 0}]
    assert [i.data for i in merged.images] == [b"one", b"two"]
