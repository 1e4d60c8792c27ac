#!/usr/bin/env python3
"""Every platform's app icons from one source image: icons/source.png (1024x1024, RGBA).

Writes the desktop PNGs Tauri's bundler expects, icon.ico (Windows), icon.icns (macOS), the Windows
Store logos, Android mipmaps and the iOS AppIcon set. If the source is missing it draws the default one
(a location pin on a parcel), so the whole set can always be regenerated from this file alone.
"""
import os
import sys

from PIL import Image, ImageDraw

out = sys.argv[1] if len(sys.argv) > 1 else "icons"
src_path = os.path.join(out, "source.png")


def draw_source(path):
    s = 1024
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((48, 48, s - 48, s - 48), radius=200, fill=(22, 101, 52, 255))
    # parcel
    d.rectangle((262, 500, 762, 860), fill=(250, 204, 21, 255))
    d.rectangle((482, 500, 542, 860), fill=(202, 138, 4, 255))
    # location pin above it
    d.ellipse((362, 150, 662, 450), fill=(255, 255, 255, 255))
    d.polygon([(380, 360), (644, 360), (512, 560)], fill=(255, 255, 255, 255))
    d.ellipse((452, 240, 572, 360), fill=(22, 101, 52, 255))
    img.save(path)


if not os.path.exists(src_path):
    os.makedirs(out, exist_ok=True)
    draw_source(src_path)

src = Image.open(src_path).convert("RGBA")


def png(size, name):
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    src.resize((size, size), Image.LANCZOS).save(path)


for size, name in [(32, "32x32.png"), (64, "64x64.png"), (128, "128x128.png"), (256, "128x128@2x.png"),
                   (512, "icon.png")]:
    png(size, name)
for size in [30, 44, 71, 89, 107, 142, 150, 284, 310]:
    png(size, f"Square{size}x{size}Logo.png")
png(50, "StoreLogo.png")
src.save(os.path.join(out, "icon.ico"), sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (256, 256)])
src.save(os.path.join(out, "icon.icns"))
for density, size in [("mdpi", 48), ("hdpi", 72), ("xhdpi", 96), ("xxhdpi", 144), ("xxxhdpi", 192)]:
    png(size, f"android/mipmap-{density}/ic_launcher.png")
    png(size, f"android/mipmap-{density}/ic_launcher_round.png")
for points, scales in [(20, (1, 2, 3)), (29, (1, 2, 3)), (40, (1, 2, 3)), (60, (2, 3)), (76, (1, 2)),
                       (83.5, (2,)), (512, (2,))]:
    for scale in scales:
        label = f"{points:g}x{points:g}@{scale}x"
        png(int(points * scale), f"ios/AppIcon-{label}.png")
print(f"icons written to {out}")
