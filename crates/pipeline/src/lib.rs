//! The prepare and epoch jobs: sources, stages, statistics and progress.
