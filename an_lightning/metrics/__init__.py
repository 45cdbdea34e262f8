"""Evaluation metrics (FID, IS, KID, intra-FID) with the reference Inception input convention."""
