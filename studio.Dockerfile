# The studio's image (terraform/studio.tf): the imagegen package of functions/, served by
# functions-framework with the `studio` entry point of functions/main.py, as the Python
# runtime of Cloud Run functions serves the six functions from the same source.
# cloudbuild.yaml (step studio-image) builds it with functions/ as the build context,
# pushes it and hands its digest to `terraform plan`: every code change is a new digest,
# so a new revision. The Python minor version follows the functions' runtime (python311,
# terraform/functions.tf); tests/terraform/test_rehearsal.py checks both, and that every
# file this copies exists.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080

WORKDIR /srv
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY main.py ./
COPY imagegen/ imagegen/

# No root inside the container.
USER 65532:65532
CMD ["sh", "-c", "exec functions-framework --target=studio --signature-type=http --port=${PORT}"]
