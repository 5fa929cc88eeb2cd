"""Measurements on real outputs: identity, landmarks, PSNR/SSIM outside the edit, flicker, FORD component errors."""
