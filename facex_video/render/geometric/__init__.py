"""The geometric renderer (docs/design.md §3): the default backend, CPU only, no learned weights.

It re-renders the identity donor's face (the texture) in the assembled geometry, inside the canvas face's
aligned crop:

1. warp: the texture is mapped triangle by triangle (MediaPipe's 898-triangle mesh) from its landmarks to
   the assembled ones. The destination triangles are rasterised once, with a z-buffer on the assembled
   depth, so under a head turn the far cheek's triangles hidden behind the nose are not drawn; every covered
   pixel gets its triangle and barycentrics, hence its source position, and one cv2.remap samples it. The
   texture has a z-buffer too: a point it hides (behind its own nose) or shows badly foreshortened takes
   the mirror image of its partner on the other half of the face (an eye opening takes it whole or not at
   all). What covers the texture's face (hands, bangs; glasses when the identity changes) and what its
   mesh's rim lies over that is not skin (sideburns, ears, background) is filled in texture space first,
   from the skin around it. Texture stretched to more than twice its area is blurred, eyes and mouth
   excepted: its few pixels carry only a gradient, which the stretch would draw out into streaks.
2. light and colour: each pixel is multiplied, in linear RGB, by the ratio of its shading (SH luminance)
   under the target lighting at the assembled normal to that under the texture's lighting at its own
   normal; then a Lab match on skin against the canvas skin it replaces, smoothed along the track so the
   tone does not flicker; then the canvas's low frequencies (a skin-masked blur at ~7% of the face's
   width) replace the texture's, so a donor lit from one side brings no bright forehead or cheek onto a
   face in shade. For a turned head both matches are against the canvas moved with the head (step 4), so
   the face meets the moved forehead and cheeks around it without a seam.
3. parts the texture may not show: the mouth interior is the canvas's own when the assembled mouth is the
   canvas's (swap, headswap, an edit that keeps the expression: alpha 0 there, its teeth stay); when the
   geometry opens a mouth, it is warped from whichever input shows one open (the texture, the canvas, or
   the expression input: a reenactment's driving frame lends its teeth), else filled as a dark cavity.
   The same holds for eyes the texture shows closed. Gaze: the iris disc is moved inside the eye opening to
   where the assembled gaze puts it on FORD's eyeball model (ford/gaze.py), the sclera beside it stretched
   or narrowed toward the corners.
4. blend: a Laplacian-pyramid blend over the assembled face (the mesh's silhouette: on a turned face the
   nose, lips and chin stand out beyond the oval contour), minus what covers the canvas face (hands, hair,
   and its glasses unless the identity changes: glasses go with the person), so the jaw and hairline carry
   no seam and the skin tone meets the neck's. A head turned away from the canvas's takes the canvas's
   whole head with it (outline, hair, ears, neck): the canvas is warped by the mesh rim's displacement
   carried outward, falling linearly to nothing at the head's outline (below the mouth, over at least twice
   the displacement: the top of the neck twists with the jaw), so no old head is left to fill; where the
   rim moves outward the band beside it is squeezed against the outline instead. What the old face covered
   outside every new outline (a profile's nose, turned back toward the camera) is filled from the scene.
   Headswap (and reenact) also carry the texture's hair and forehead by a similarity, hairswap only its
   hair, and both fill the canvas hair the new hair does not cover.
5. inpaint: the masked area is regenerated from the face's mirror image (MediaPipe's mesh is symmetric:
   each vertex has a mirror partner), what the mirror cannot supply is inpainted, and a Poisson blend
   joins it to the canvas; outside the mask the crop is the canvas, bit for bit.

What it cannot do: teeth or a tongue no input shows (an opened mouth with no open donor is a dark cavity:
`facex edit --jaw-open` on a closed-mouth photo);
eyes the texture shows shut, opened (their lids are stretched); the far side of a face neither half of the
texture shows well, and detail a donor seen at a grazing angle never showed (a frontal donor on a face
turned ~50 degrees gets a smooth near cheek; a donor turned ~50 degrees gives a frontal face blurred eyes
and its nose's highlight, mirrored); the identity's ears, neck and hair in swap (the target's stay); a
hat or hair that FORD's hair mask reads as background (headswap/hairswap carry the mask only); the scene
behind a removed head or hair (a smooth fill); new wrinkles of a new expression; specular highlights (the
shading ratio treats them as albedo); the skin behind removed glasses frames (a smooth fill with borrowed
grain) and the tint of their lenses, which stays; on a pose edit past ~15 degrees, the stretched rim of
the face where it swings out (a pale band that can read as a second cheek).

The modules, lowest first (each imports only those before it):
- raster: the mesh in pixels (the z-buffered rasteriser), its mouth and eye parts and mirror pairs;
- relight: step 2's shading ratio;
- texture: the texture's cover (ford/occluders.py: glasses, bangs, hands) and rim filled, before the warp;
- warp: step 1, with the mirror image, relit;
- openings: step 3's mouth and eyes; gaze: step 3's iris move;
- head: step 4's moved head; hair: step 4's carried hair, and hairswap;
- face: swap, headswap, reenact, edit and mix: steps 1-4 in order, step 2's colour match along the track
  and step 4's blend;
- inpaint: step 5;
- renderer: GeometricRenderer, which hands each task to face, hair or inpaint.
"""

from __future__ import annotations

from .gaze import iris_target
from .raster import Raster, map_points, mirror_pairs, rasterise
from .renderer import GeometricRenderer, Options, check, load

__all__ = ["GeometricRenderer", "Options", "Raster", "check", "iris_target", "load", "map_points", "mirror_pairs",
           "rasterise"]
