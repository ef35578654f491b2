#!/bin/bash
# A sharded meshsim sweep as a Slurm job array: array task k runs shard k of the array's
# size and writes outputs/<sweep name>/sweep-shard-k-of-N.csv; a dependent job merges them.
#
#   jobid=$(sbatch --parsable deploy/sweep-slurm.sh examples/sweep-faces.toml)
#   sbatch --dependency=afterok:$jobid --wrap \
#     "meshsim merge outputs/sweep-faces/sweep.csv outputs/sweep-faces/sweep-shard-*-of-4.csv"
#
# Keep --array=0-(N-1) and SHARDS=N in step. Run from the repository root (shared filesystem).
#SBATCH --job-name=meshsim-sweep
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --time=01:00:00
#SBATCH --output=meshsim-sweep-%A_%a.log
set -euo pipefail

SPEC="${1:-examples/sweep-faces.toml}"
SHARDS="${SHARDS:-${SLURM_ARRAY_TASK_COUNT:-4}}"
export RAYON_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"

exec meshsim sweep "$SPEC" --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}"
