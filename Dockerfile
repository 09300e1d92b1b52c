# cloudsvc: one image for the API (`serve`, the default), the worker (`worker`) and the migrations
# (`db upgrade`, run once per release before the new pods start; the Helm chart does it in a hook Job).
#
#   docker build -t cloudsvc .
#   docker run --rm -e CLOUDSVC_DATABASE_URL=postgresql://… cloudsvc db upgrade
#   docker run -p 8000:8000 -e CLOUDSVC_DATABASE_URL=postgresql://… cloudsvc
#   docker run -e CLOUDSVC_DATABASE_URL=postgresql://… cloudsvc worker

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scripts/install-runtime.sh scripts/
COPY cloudsvc cloudsvc
COPY provisioners provisioners
COPY quotas quotas
COPY migrations_plan migrations_plan
# The same command `make runtime` and the tests run
RUN scripts/install-runtime.sh /opt/cloudsvc

FROM ${PYTHON_IMAGE} AS runtime
# openssh-client: the worker runs the Ansible baseline on new servers over ssh
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client=1:9.2* \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cloudsvc \
 && useradd --system --uid 10001 --gid cloudsvc --home-dir /home/cloudsvc --create-home cloudsvc
COPY --from=build /opt/cloudsvc /opt/cloudsvc
COPY ansible /opt/cloudsvc/ansible
ENV PATH=/opt/cloudsvc/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CLOUDSVC_ENVIRONMENT=production \
    CLOUDSVC_ANSIBLE_DIR=/opt/cloudsvc/ansible \
    ANSIBLE_LOCAL_TEMP=/tmp/ansible \
    HOME=/home/cloudsvc
USER 10001:10001
WORKDIR /home/cloudsvc
EXPOSE 8000
# Healthy when either the worker's heartbeat is fresh (a `worker` container: `cloudsvc worker --check`) or
# the API answers /healthz (a `serve` container, which writes no heartbeat of its own unless it also runs
# the worker in-process, on SQLite).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["sh", "-c", "cloudsvc worker --check >/dev/null 2>&1 || python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)\""]
ENTRYPOINT ["cloudsvc"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
