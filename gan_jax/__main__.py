"""`python -m gan_jax` runs the `gan-jax` command line."""

import sys

from gan_jax.cli import main

sys.exit(main())
