"""Run by tests/sdk with the project's own venv (google-cloud-aiplatform 2.7.0 ships
`vertexai.preview.vision_models`): the guide's Vertex AI snippet for Imagen 3, unchanged but
for `vertexai.init`, which points the SDK at the local stack over REST and gives it an ID
token as its credentials (what Cloud Run admits; the SDK's default gRPC transport and access
tokens reach no Cloud Run service).

    vertexai_imagen.py OUT_DIR  <  {"base_url", "token"}
"""

from __future__ import annotations

import json
import sys

import vertexai
from google.oauth2.credentials import Credentials
from vertexai.preview.vision_models import ImageGenerationModel

spec = json.load(sys.stdin)
out = sys.argv[1]

# Initialize Vertex AI with your project
PROJECT_ID = "your-project-id"
LOCATION = "us-central1"  # Region where Imagen is available
vertexai.init(
    project=PROJECT_ID,
    location=LOCATION,
    api_endpoint=spec["base_url"],
    api_transport="rest",
    credentials=Credentials(token=spec["token"]),
)

# --- from here on, the guide's code as it is -----------------------------------------------
# Load the Imagen 3 model
model = ImageGenerationModel.from_pretrained("imagen-3.0-generate-001")

# Generate with comprehensive parameters
images = model.generate_images(
    prompt="A professional product photograph of a luxury watch on a marble surface, "
    "studio lighting, 8K quality",
    number_of_images=4,
    aspect_ratio="1:1",
    safety_filter_level="block_some",
    person_generation="allow_adult",
    add_watermark=True,  # SynthID digital watermark
)

# Save all generated variations
for idx, image in enumerate(images):
    image.save(f"{out}/vertex_output_{idx}.png")
    print(f"Saved: vertex_output_{idx}.png")
