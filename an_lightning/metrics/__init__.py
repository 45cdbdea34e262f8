"""Evaluation metrics (FID, IS, KID, PRDC, intra-FID) under the reference Inception input
convention."""
