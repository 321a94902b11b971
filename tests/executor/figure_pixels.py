# A cell that tests/executor/run.sh runs (check figure_png_pixels): the PNG of
# pi_outputs.figure_png decodes to matplotlib's own PNG's pixels: a figure of
# odd size with a title, an empty one, an animated artist (drawn only when
# saving), another dpi, a layout engine, and savefig.bbox = "tight" (another
# size: matplotlib's PNG is used).
import io, PIL.Image, pi_outputs
def same(fig):
    ours = PIL.Image.open(io.BytesIO(pi_outputs.figure_png(fig)))
    ours.load()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=pi_outputs.FIGURE_DPI)
    ref = PIL.Image.open(buf)
    ref.load()
    return ours.size == ref.size and ours.mode == ref.mode and ours.tobytes() == ref.tobytes()
fig, ax = plt.subplots(figsize=(3.33, 2.17))
ax.plot([1, 3, 2]); ax.set_title("odd size")
animated, ax2 = plt.subplots()
ax2.plot([2, 1, 3], animated=True)
other_dpi = plt.figure(dpi=150)
other_dpi.gca().plot([1, 2])
laid_out = plt.figure(layout="constrained")
laid_out.gca().set_title("constrained")
checks = [same(fig), same(plt.figure()), same(animated), same(other_dpi), same(laid_out)]
plt.rcParams["savefig.bbox"] = "tight"
checks.append(same(fig))
plt.close("all")
checks
