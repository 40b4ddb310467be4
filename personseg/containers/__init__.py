"""Containers on this machine: a Docker API engine (Docker, else podman's) for deploys and pipeline runs."""
