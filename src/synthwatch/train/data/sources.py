"""The public sources synthwatch's own detectors are trained and measured on, pinned by commit.

Each :class:`Source` is one public git repository at one commit, with the licence the repository
states (``none stated`` when it states none) and the files taken from it (:class:`Selection`:
a path pattern, the class, the generator family, the kind of file). Nothing here is downloaded:
:mod:`synthwatch.train.data.manifest` reads the files from a clone of each repository at exactly
this commit and records every file's sha256.

Splits are decided here, per task, before any model sees a file:

* ``face``: the DeepFaceLive side-by-side clips are split by *identity group*
  (:data:`DFL_IDENTITY_GROUPS`: clips that share the swap identity, i.e. the celebrity folder, or the
  person on the real side, are one group), so no person is in two splits. Still real faces of
  ``chmoe/Real_Fake_Face`` are split into train / val by file hash. The real faces of
  ``tharunnayak14/Real-vs-Fake-Face-Detection`` are a source the face model never sees (``test``),
  for the false-positive rate on genuine faces from an unseen source; its StyleGAN2 faces are
  reported beside it (entirely synthetic faces, not face swaps).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass

__all__ = [
    "Selection",
    "Source",
    "SOURCES",
    "TASKS",
    "DFL_IDENTITY_GROUPS",
    "dfl_clip_id",
    "source",
    "hash_fraction",
    "HELDOUT_IMAGE_FAMILIES",
    "DCSAN_PREFIX",
    "AIBINGO_CODE",
]

TASKS = ("face", "image")


@dataclass(frozen=True)
class Selection:
    """Files of a source: ``pattern`` is matched per path component (fnmatch), so ``*`` never
    crosses a ``/`` and the pattern has as many components as the paths it selects."""

    pattern: str
    label: str  # real | fake | pair (a side-by-side clip: left half real, right half fake)
    family: str  # generator family of the fakes (of the right half of a pair); "" for reals
    kind: str  # image | sbs-video
    tasks: tuple[str, ...]
    #: how the files of this selection are split for each task: "hash" (train / val by hash),
    #: "identity" (by identity group), "test" (never trained or calibrated on)
    split: str = "hash"
    note: str = ""

    def matches(self, path: str) -> bool:
        pat, parts = self.pattern.split("/"), path.split("/")
        return len(pat) == len(parts) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pat, strict=True))


@dataclass(frozen=True)
class Source:
    name: str
    repo: str  # owner/name on GitHub
    commit: str  # full hash
    licence: str  # as the repository states it
    selections: tuple[Selection, ...]
    note: str = ""

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}"


SOURCES: tuple[Source, ...] = (
    Source(
        name="deepfacelive",
        repo="iperov/DeepFaceLive",
        commit="fc7b787bda2b8c186e142c52857458eea3a935ed",
        licence="GPL-3.0 (repository LICENSE); the clips are the project's own demo material",
        selections=(
            Selection("doc/celebs/*/*.mp4", "pair", "deepfacelive", "sbs-video", ("face",), split="identity",
                      note="side-by-side demo clips: left half the real streamer, right half the live face "
                           "swap (DeepFaceLive, DFM models), one encode"),
        ),
        note="2 of the 57 clips are over 4 MiB and absent from size-limited snapshots; they are listed "
             "as missing, not used",
    ),
    Source(
        name="chmoe-faces",
        repo="chmoe/Real_Fake_Face",
        commit="6156c9d34acac6721b46ff5e7510b7157c449c71",
        licence="none stated",
        selections=(
            Selection("result/real/*.jpg", "real", "", "image", ("face", "image"), split="hash",
                      note="real face photographs, tightly cropped; the repository's 'fake' folder holds "
                           "Photoshop edits, not AI, and is not used"),
        ),
    ),
    Source(
        name="hardfakevsreal",
        repo="tharunnayak14/Real-vs-Fake-Face-Detection",
        commit="2dade5e926a2c505d22be1232bac8b1e3e4f5e05",
        licence="none stated (README cites the Kaggle set hamzaboulahia/hardfakevsrealfaces)",
        selections=(
            Selection("images/real/*.jpg", "real", "", "image", ("face", "image"), split="test",
                      note="real faces, 300x300 JPEG"),
            Selection("val_images/real/*.jpg", "real", "", "image", ("face", "image"), split="test"),
            Selection("images/fake/*.jpg", "fake", "stylegan2", "image", ("face", "image"), split="test",
                      note="StyleGAN2 faces, same size and JPEG quality as the reals"),
            Selection("val_images/fake/*.jpg", "fake", "stylegan2", "image", ("face", "image"), split="test"),
        ),
    ),
    # ------------------------------------------------------------------ image task
    Source(
        name="imagenet-sample",
        repo="EliSchwartz/imagenet-sample-images",
        commit="bc69043e2862758a1906c6a24a792bb28c6bb2ff",
        licence="none stated (ImageNet validation-style photographs; ImageNet terms of access)",
        selections=(
            Selection("*.JPEG", "real", "", "image", ("image",), split="hash",
                      note="1,000 photographs, one per ImageNet class"),
        ),
    ),
    Source(
        name="dcsan-imagen",
        repo="dcsan/imagen",
        commit="c6f37ebed13ee57a51055235c70621c6ae80521f",
        licence="none stated",
        selections=(
            Selection("output/renders/*/*", "fake", "by-prefix", "image", ("image",), split="hash",
                      note="text-to-image renders of the same prompts by several generators; the file name prefix "
                           "names the generator (data/configs.py): ldif latent diffusion, dmin DALL-E mini, glid3 "
                           "GLID-3 XL, midj Midjourney, disco Disco Diffusion, simu/pixray VQGAN (pixray), stab "
                           "Stable Diffusion, dal2 DALL-E 2, mdif Majesty Diffusion, lmdv16 latent diffusion"),
        ),
    ),
    Source(
        name="ai-bingo",
        repo="lipsumar/ai-bingo",
        commit="9bb221b1bb4a6b6d761b691be568719218e05d82",
        licence="none stated",
        selections=(
            Selection("public/images/prompts/*/*", "fake", "by-items-ts", "image", ("image",), split="hash",
                      note="77 prompts, each rendered by DALL-E (de), Stable Diffusion (sd) and Midjourney (mj) as "
                           "listed in src/data/items.ts"),
        ),
    ),
    Source(
        name="kurlyto-ai-or-not",
        repo="kurlyto/ai-or-not",
        commit="2c7b571aae22582953173cf0169a773ecb6c3551",
        licence="none stated (photographs credited to Unsplash via Picsum; paintings public-domain classics)",
        selections=(
            Selection("public/images/realistic/real/*.jpg", "real", "", "image", ("image",), split="test",
                      note="Unsplash photographs (Picsum)"),
            Selection("public/images/painting/real/*.jpg", "real", "", "image", ("image",), split="hash",
                      note="classical paintings"),
            Selection("public/images/painting/ai/*.jpg", "fake", "stable-diffusion", "image", ("image",),
                      split="hash", note="manifest.json: 'Generation IA (Stable Diffusion)'"),
            Selection("public/images/realistic/ai/*.jpg", "fake", "stylegan", "image", ("image",), split="hash",
                      note="manifest.json: GAN pictures from this*doesnotexist sites (faces, beaches, ...)"),
            Selection("public/images/architecture/ai/*.jpg", "fake", "stylegan", "image", ("image",), split="hash",
                      note="manifest.json: StyleGAN (thisrentaldoesnotexist)"),
            Selection("public/images/nature/ai/*.jpg", "fake", "stylegan", "image", ("image",), split="hash",
                      note="manifest.json: thismountaindoesnotexist"),
            Selection("public/images/portrait/ai/*.jpg", "fake", "stylegan", "image", ("image",), split="hash",
                      note="manifest.json: GAN faces (thisfacenotexist)"),
        ),
    ),
    Source(
        name="sd-cheatsheet",
        repo="SupaGruen/StableDiffusion-CheatSheet",
        commit="169c57dce400ed000520c1c40a12731eecca1370",
        licence="MIT (repository LICENSE.md)",
        selections=(
            Selection("img/*.webp", "fake", "stable-diffusion", "image", ("image",), split="hash",
                      note="artist-style samples rendered with Stable Diffusion (img/other and img/types, page "
                           "graphics, are not selected)"),
        ),
    ),
    Source(
        name="fooocus-styles",
        repo="lllyasviel/Fooocus",
        commit="59f183ab9b8e4a4bbf0fb8bc43886e19e8dfdfae",
        licence="GPL-3.0 (repository LICENSE)",
        selections=(
            Selection("sdxl_styles/samples/*.jpg", "fake", "sdxl", "image", ("image",), split="hash",
                      note="style preview images rendered with SDXL"),
        ),
    ),
    Source(
        name="rs-avatars",
        repo="radically-straightforward/radically-straightforward",
        commit="21c0ffe7a53cfcfe57fbc1d161550c153044492d",
        licence="MIT (repository LICENSE.md)",
        selections=(
            Selection("examples/avatars/png/*.png", "fake", "stylegan", "image", ("image",), split="hash",
                      note="example avatars; the repository does not say how they were made: they are "
                           "StyleGAN-style generated faces (aligned, centred, typical artefacts), 256 x 256"),
        ),
    ),
    Source(
        name="scamai-test",
        repo="scamai/genai-image-detection-test",
        commit="81ca0062b3ab045ba7186f2f9c8b076fa185e561",
        licence="none stated",
        selections=(
            Selection("ai/*", "fake", "unknown-modern", "image", ("image",), split="test",
                      note="a detector vendor's test pictures, generators not named"),
            Selection("non_ai/*", "real", "", "image", ("image",), split="test"),
        ),
    ),
)

#: generator families held out of the image model's training and calibration (every file of them,
#: from every source, goes to ``test``)
HELDOUT_IMAGE_FAMILIES = ("midjourney", "dall-e-2", "sdxl")

#: dcsan/imagen file-name prefix -> generator family (from its data/configs.py)
DCSAN_PREFIX = {
    "ldif": "latent-diffusion", "lmdv16": "latent-diffusion", "dmin": "dalle-mini", "glid3": "glid-3",
    "midj": "midjourney", "disco": "disco-diffusion", "simu": "vqgan", "pixray": "vqgan",
    "stab": "stable-diffusion", "dal2": "dall-e-2", "mdif": "majesty-diffusion",
}

#: ai-bingo items.ts generator code -> family
AIBINGO_CODE = {"de": "dall-e-2", "sd": "stable-diffusion", "mj": "midjourney"}


def source(name: str) -> Source:
    for s in SOURCES:
        if s.name == name:
            return s
    raise KeyError(name)


def dfl_clip_id(path: str) -> str:
    """``doc/celebs/Keanu_Reeves/Keanu_Reeves_0.mp4`` -> ``Keanu_Reeves/Keanu_Reeves_0``."""
    p = path.removeprefix("doc/celebs/")
    return p[:-4] if p.endswith(".mp4") else p


#: Identity groups of the DeepFaceLive clips. Every clip is in the group of its celebrity folder
#: (the swap identity); folders are merged when the real (left) side of two of their clips shows the
#: same person or the same source footage. Found by looking at the left-half face crops of every
#: clip side by side (no face-recognition model is available here): Ava_de_Addario_0 and
#: Tim_Chrys_2 are the same footage, so are Kim_Jarrey_1 and Tim_Chrys_3, David Kovalniy_1 and
#: Matilda_Bobbie_0, Emily_Winston_1 and Natasha_Former_2. Folders not named here are their own group.
DFL_IDENTITY_GROUPS: dict[str, tuple[str, ...]] = {
    "g-ava-tim-kim": ("Ava_de_Addario", "Tim_Chrys", "Kim_Jarrey"),
    "g-david-matilda": ("David_Kovalniy", "Matilda_Bobbie"),
    "g-emily-natasha": ("Emily_Winston", "Natasha_Former"),
}


def hash_fraction(key: str, salt: str = "synthwatch-split-1") -> float:
    """A fixed pseudo-random number in [0, 1) for ``key`` (the split order of groups)."""
    h = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64
