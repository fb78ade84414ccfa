"""A small kustomize renderer for the subset k8s/ uses, so tests need no kustomize binary.

Supported: `resources` (files and kustomization directories), `namespace`, `images`
(newName/newTag/digest) and `patches` that are strategic-merge patches given by `path`
or inline `patch`. Anything else raises UnsupportedKustomization rather than rendering
something kustomize would not: a manifest change that needs more must extend this file
(and test_manifests.py compares the result with `kubectl kustomize` where it exists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

_SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
_CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
}
# Lists that Kubernetes' strategic merge merges element by element, keyed by `name`.
_MERGED_BY_NAME = {"containers", "initContainers", "env", "volumes", "volumeMounts"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this renderer does not implement."""


def render(directory: Path) -> list[Manifest]:
    """Renders the kustomization in `directory` as `kubectl kustomize` would."""
    kustomization = _load_kustomization(directory)
    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects.extend(render(path) if path.is_dir() else _load_documents(path))
    # kustomize's order: namespace, then patches, then images.
    if "namespace" in kustomization:
        _set_namespace(objects, kustomization["namespace"])
    for patch in kustomization.get("patches", []):
        for document in _patch_documents(directory, patch):
            _apply_patch(objects, document)
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    return objects


def _load_kustomization(directory: Path) -> Manifest:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise UnsupportedKustomization(f"{directory}: no kustomization.yaml")
    kustomization: Manifest = yaml.safe_load(path.read_text())
    unknown = set(kustomization) - _SUPPORTED_FIELDS
    if unknown:
        raise UnsupportedKustomization(f"{path}: fields {sorted(unknown)} are not supported")
    return kustomization


def _load_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _patch_documents(directory: Path, patch: Manifest) -> list[Manifest]:
    if set(patch) - {"path", "patch"} or len(patch) != 1:
        raise UnsupportedKustomization(f"patch {patch}: only one of `path` or `patch`")
    text = (directory / patch["path"]).read_text() if "path" in patch else patch["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if not all(isinstance(doc, dict) for doc in documents):
        raise UnsupportedKustomization(f"patch {patch}: JSON 6902 patches are not supported")
    return documents


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _apply_patch(objects: list[Manifest], patch: Manifest) -> None:
    name = patch["metadata"]["name"]
    matches = [
        index
        for index, obj in enumerate(objects)
        if obj["kind"] == patch["kind"]
        and _group(obj["apiVersion"]) == _group(patch["apiVersion"])
        and obj["metadata"]["name"] == name
    ]
    if len(matches) != 1:
        raise UnsupportedKustomization(
            f"patch for {patch['kind']}/{name} matches {len(matches)} objects, not one"
        )
    objects[matches[0]] = _merge(objects[matches[0]], patch, field="")


def _merge(base: Any, patch: Any, field: str) -> Any:
    if isinstance(patch, dict) and isinstance(base, dict):
        merged = dict(base)
        for key, value in patch.items():
            if key.startswith("$"):
                raise UnsupportedKustomization(f"patch directive {key} is not supported")
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _merge(base[key], value, key) if key in base else value
        return merged
    if isinstance(patch, list) and isinstance(base, list):
        if field not in _MERGED_BY_NAME:
            # Other lists have other merge keys (ports by containerPort, ...) or are replaced.
            raise UnsupportedKustomization(f"patching the list {field!r} is not supported")
        merged_list = list(base)
        for item in patch:
            names = [element.get("name") for element in merged_list]
            if item["name"] in names:
                index = names.index(item["name"])
                merged_list[index] = _merge(merged_list[index], item, field)
            else:
                merged_list.append(item)
        return merged_list
    return patch


def _set_namespace(objects: list[Manifest], namespace: str) -> None:
    accounts_before = {
        obj["metadata"]["name"]: obj["metadata"].get("namespace")
        for obj in objects
        if obj["kind"] == "ServiceAccount"
    }
    for obj in objects:
        if obj["kind"] not in _CLUSTER_SCOPED_KINDS:
            obj["metadata"]["namespace"] = namespace
        if obj["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        # kustomize's name references: a subject naming a ServiceAccount of this build
        # follows it into the new namespace, unless it pointed at another namespace.
        for subject in obj.get("subjects", []):
            if (
                subject.get("kind") == "ServiceAccount"
                and subject["name"] in accounts_before
                and subject.get("namespace") in {None, accounts_before[subject["name"]]}
            ):
                subject["namespace"] = namespace


def _split_image(image: str) -> tuple[str, str]:
    """Splits `registry/name:tag@digest` into its name and the rest (":tag", "@digest")."""
    at = image.find("@")
    if at >= 0:
        return image[:at], image[at:]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _set_image(objects: list[Manifest], rule: Manifest) -> None:
    if set(rule) - {"name", "newName", "newTag", "digest"}:
        raise UnsupportedKustomization(f"image rule {rule}: unsupported fields")
    for container in _containers(objects):
        name, suffix = _split_image(container["image"])
        if name != rule["name"]:
            continue
        if "digest" in rule:
            suffix = "@" + rule["digest"]
        elif "newTag" in rule:
            suffix = ":" + rule["newTag"]
        container["image"] = rule.get("newName", name) + suffix


def _containers(node: Any) -> list[Manifest]:
    """Every container (and init container) anywhere in the given objects."""
    found: list[Manifest] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"}:
                found.extend(value)
            else:
                found.extend(_containers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_containers(item))
    return found
