# A cell that tests/executor/run.sh runs (check figure_png_pixels): the PNG of
# pi_outputs.figure_png decodes to matplotlib's own PNG's pixels.
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
checks = [same(fig), same(plt.figure())]
plt.rcParams["savefig.bbox"] = "tight"
checks.append(same(fig))
plt.close("all")
checks
