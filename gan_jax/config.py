"""Configuration of a GAN: frozen, hashable, validated on creation.

The defaults are the reference architecture and training of gan-jax: a
dense generator (256-512-1024, LeakyReLU 0.2, batch norm with momentum 0.8,
tanh output) and a dense discriminator (512-256, LeakyReLU 0.2, dropout 0.4,
one logit), both trained with Adam (learning rate 2e-4, beta1 0.5).

`GANConfig` is hashable so that it can ride along as static data in a
`GANState` through `jax.jit`: two states with equal configs share compiled
code, two states with different configs never do.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

#: The games a GAN can play (`GANConfig.objective`).
OBJECTIVES = ("reference", "wgan-gp", "conditional")

#: The feature transforms a GAN can train behind (`gan_jax.scaling`).
TRANSFORMS = ("minmax", "quantile")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Architecture and optimisation settings of one GAN.

    Attributes:
        latent_dim: size of the generator's input noise vector.
        generator_widths: widths of the generator's hidden dense layers.
        discriminator_widths: widths of the discriminator's hidden layers.
        leaky_relu_slope: slope of LeakyReLU for negative inputs, both nets.
        batch_norm_momentum: running = momentum * running + (1 - momentum) *
            batch, as in Keras; applies to the generator's batch norms.
        batch_norm_epsilon: added to the variance in batch norm (Keras's
            default, 1e-3, rather than Flax's 1e-5, to match the reference).
        dropout_rate: dropout after each hidden discriminator layer.
        learning_rate: Adam step size, the same for both networks.
        adam_beta1: Adam's first-moment decay.
        adam_beta2: Adam's second-moment decay.
        adam_epsilon: Adam's denominator offset.
        batch_size: real rows drawn per step by `train` (and as many
            synthetic rows generated).
        real_target: discriminator target for real rows; below 1 is
            one-sided label smoothing.
        fake_target: discriminator target for synthetic rows.
        objective: what the two networks play: "reference" (the
            discriminator's binary cross-entropy with the targets above,
            the generator's non-saturating loss) or "wgan-gp" (Gulrajani
            et al., 2017: the discriminator is a critic of the Wasserstein
            distance, kept 1-Lipschitz by a gradient penalty, updated
            `critic_steps` times per generator update, and run without
            dropout whatever `dropout_rate` says) or "conditional" (the
            reference game with each row's label, one-hot, beside the
            noise and beside the row: the GAN learns every training row,
            the majority's too, with the label as the data's last column,
            and is sampled with label 1, so the few minority rows can
            borrow structure from the many others).
        critic_steps: critic updates per generator update ("wgan-gp"
            only); each draws its own batch of real rows.
        gradient_penalty: weight of the gradient penalty ("wgan-gp" only).
        transform: how rows reach the generator's [-1, 1] range: "minmax"
            (the reference: linear, from the training minimum to the
            maximum) or "quantile" (through the training quantiles onto a
            normal, which suits heavy tails); see `gan_jax.scaling`.
    """

    latent_dim: int = 100
    generator_widths: tuple[int, ...] = (256, 512, 1024)
    discriminator_widths: tuple[int, ...] = (512, 256)
    leaky_relu_slope: float = 0.2
    batch_norm_momentum: float = 0.8
    batch_norm_epsilon: float = 1e-3
    dropout_rate: float = 0.4
    learning_rate: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    batch_size: int = 64
    real_target: float = 0.9
    fake_target: float = 0.0
    objective: str = "reference"
    critic_steps: int = 5
    gradient_penalty: float = 10.0
    transform: str = "minmax"

    def __post_init__(self) -> None:
        # Lists would make the config unhashable and so unusable as static
        # data under jit; accept any sequence and store a tuple.
        for name in ("generator_widths", "discriminator_widths"):
            widths = getattr(self, name)
            if isinstance(widths, (str, bytes)) or not isinstance(
                widths, Sequence
            ):
                raise ValueError(
                    f"{name} must be a sequence of positive integers, "
                    f"got {widths!r}"
                )
            object.__setattr__(self, name, tuple(widths))
            for width in getattr(self, name):
                _check_positive_int(name, width)
        _check_positive_int("latent_dim", self.latent_dim)
        _check_positive_int("batch_size", self.batch_size)
        _check_in_range("leaky_relu_slope", self.leaky_relu_slope, 0, 1)
        _check_in_range("batch_norm_momentum", self.batch_norm_momentum, 0, 1)
        _check_in_range("dropout_rate", self.dropout_rate, 0, 1, upper=False)
        _check_in_range("adam_beta1", self.adam_beta1, 0, 1, upper=False)
        _check_in_range("adam_beta2", self.adam_beta2, 0, 1, upper=False)
        _check_in_range("real_target", self.real_target, 0, 1)
        _check_in_range("fake_target", self.fake_target, 0, 1)
        for name in ("batch_norm_epsilon", "learning_rate", "adam_epsilon"):
            value = getattr(self, name)
            if not _is_real(value) or not value > 0 or math.isinf(value):
                raise ValueError(
                    f"{name} must be a positive finite number, got {value!r}"
                )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got "
                f"{self.objective!r}"
            )
        _check_positive_int("critic_steps", self.critic_steps)
        if (
            not _is_real(self.gradient_penalty)
            or not self.gradient_penalty > 0
            or math.isinf(self.gradient_penalty)
        ):
            raise ValueError(
                "gradient_penalty must be a positive finite number, got "
                f"{self.gradient_penalty!r}"
            )
        if self.transform not in TRANSFORMS:
            raise ValueError(
                f"transform must be one of {', '.join(TRANSFORMS)}, got "
                f"{self.transform!r}"
            )
        if self.fake_target >= self.real_target:
            raise ValueError(
                "fake_target must be below real_target, got "
                f"fake_target={self.fake_target} and "
                f"real_target={self.real_target}"
            )


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_in_range(
    name: str, value: object, low: float, high: float, *, upper: bool = True
) -> None:
    """Checks low <= value <= high (value < high when `upper` is False)."""
    within = (
        _is_real(value)
        and low <= value
        and (value <= high if upper else value < high)
    )
    if not within:
        closing = "]" if upper else ")"
        raise ValueError(
            f"{name} must lie in [{low}, {high}{closing}, got {value!r}"
        )


def _store_names(settings, name: str) -> None:
    """Checks a field of names (non-empty, no repeats) and stores a tuple."""
    names = getattr(settings, name)
    if isinstance(names, str) or not names:
        raise ValueError(f"{name} must be a non-empty list of names")
    object.__setattr__(settings, name, tuple(names))
    repeated = {n for n in names if list(names).count(n) > 1}
    if repeated:
        raise ValueError(f"{name} lists {', '.join(sorted(repeated))} twice")


def _check_repetitions(settings) -> None:
    """The fields a run and a detection share: seeds, split, GAN steps."""
    _check_positive_int("num_seeds", settings.num_seeds)
    _check_positive_int("gan_steps", settings.gan_steps)
    seed = settings.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not (_is_real(settings.test_size) and 0 < settings.test_size < 1):
        raise ValueError(
            f"test_size must lie in (0, 1), got {settings.test_size!r}"
        )


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Everything that decides the results of `gan-jax run`.

    Attributes:
        oversamplers: names from `gan_jax.oversampling.OVERSAMPLERS`.
        classifiers: names from `gan_jax.classifiers.CLASSIFIERS`.
        num_seeds: how many seeds; seed i is `seed + i` and fixes the split,
            the GAN's key and every random state of that repetition.
        seed: the base seed.
        test_size: share of each class held out for testing.
        ratio: minority / majority after oversampling.
        gan_steps: training steps of each seed's GAN.
        gan_select_every: model selection: each seed's GAN samples from
            the step, among every `gan_select_every`-th, whose rows are
            closest to its training minority rows
            (`gan_jax.train_checkpointed`'s `select_every`); None, or
            fewer steps than that: from its last step.
        class_weight: "reference" ({0: 1, 1: 10}) or "balanced".
        forest_rows_per_tree: rows each random-forest tree draws when the
            training set is larger (None: every row, scikit-learn's
            default). Fully grown trees on all rows of a large table take
            minutes per fit; see `gan_jax.classifiers.make_classifier`.
        gan: the GAN's configuration; by default the reference networks
            in the conditional game behind the quantile transform.
    """

    oversamplers: tuple[str, ...] = (
        "none",
        "class-weight",
        "random",
        "smote",
        "borderline-smote",
        "adasyn",
        "gan",
    )
    classifiers: tuple[str, ...] = (
        "logistic-regression",
        "random-forest",
        "hist-gradient-boosting",
    )
    num_seeds: int = 3
    seed: int = 0
    test_size: float = 0.3
    ratio: float = 0.25
    # The GAN, its transform and its step count won the oversampler
    # benchmark (experiments/benchmark_oversamplers.py; README).
    gan_steps: int = 3000
    gan_select_every: int | None = None
    class_weight: str = "reference"
    forest_rows_per_tree: int | None = 20_000
    gan: GANConfig = GANConfig(objective="conditional", transform="quantile")

    def __post_init__(self) -> None:
        for name in ("oversamplers", "classifiers"):
            _store_names(self, name)
        _check_repetitions(self)
        if not (_is_real(self.ratio) and 0 < self.ratio <= 1):
            raise ValueError(f"ratio must lie in (0, 1], got {self.ratio!r}")
        if self.gan_select_every is not None:
            _check_positive_int("gan_select_every", self.gan_select_every)
        if self.forest_rows_per_tree is not None:
            _check_positive_int(
                "forest_rows_per_tree", self.forest_rows_per_tree
            )
        if self.class_weight not in ("reference", "balanced"):
            raise ValueError(
                "class_weight must be 'reference' or 'balanced', got "
                f"{self.class_weight!r}"
            )

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.num_seeds))


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    """Everything that decides the results of `gan-jax detect`.

    Attributes:
        detectors: names from `gan_jax.detectors.DETECTORS`.
        num_seeds: how many seeds; seed i is `seed + i` and fixes the split
            and every detector's random state of that repetition.
        seed: the base seed.
        test_size: share of each class held out for testing.
        gan_steps: training steps of each seed's GAN.
        score: how the GAN scores a row, one of
            `gan_jax.detection.SCORES`.
        gan: the GAN's configuration.
    """

    detectors: tuple[str, ...] = (
        "gan",
        "isolation-forest",
        "local-outlier-factor",
        "one-class-svm",
    )
    num_seeds: int = 3
    seed: int = 0
    test_size: float = 0.3
    gan_steps: int = 1000
    score: str = "nearest"
    gan: GANConfig = GANConfig()

    def __post_init__(self) -> None:
        _store_names(self, "detectors")
        _check_repetitions(self)
        if not isinstance(self.score, str):
            raise ValueError(f"score must be a name, got {self.score!r}")
        if self.gan.objective == "conditional":
            raise ValueError(
                "a detector's GAN learns unlabelled normal rows; the "
                "conditional objective needs labels: use reference or wgan-gp"
            )

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.num_seeds))
