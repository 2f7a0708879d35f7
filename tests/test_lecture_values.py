"""Every deterministic value the lecture prints is in the stored outputs, at the
printed precision (`../shared/reference/printed-values.md`, outside the regression
table, whose values depend on the lecture's own data: see test_lecture_data.py).
Where today's JAX prints a value otherwise than the slides (DRIFT), the test says
both, checks that the stored output is today's, and that the notebook says so."""

import pytest

from helpers import ROOT, cell_text, find_cell, read

EXPECTED = {
    "01-jax-numpy": [
        ("x_np.dtype", "dtype('float64')"),
        ("x_jnp.dtype", "dtype('float32')"),
        ("type(x_jnp)", "jaxlib._jax.ArrayImpl"),
        ("type(y_mix)", "jaxlib._jax.ArrayImpl"),
        ("y_mix = ", "Array([ 0.     ,  0.19867,  0.38942,  0.56464,  0.71736,"),
        ("y_mix = ", "0.91295], dtype=float32)"),
    ],
    "02-prng": [
        ('print("individually:"', "individually: [0.54881 0.71519 0.60276 0.54488 0.42365]"),
        ('print("all at once: "', "all at once:  [0.54881 0.71519 0.60276 0.54488 0.42365]"),
        ("key = jax.random.PRNGKey(1234); key", "Array([   0, 1234], dtype=uint32)"),
        ("jax.random.normal(key, shape=(3,))", "Array([-0.01978, -0.0731 , -1.07825], dtype=float32)"),
        ("new_key1, sub_key1", "new_key1: [2113592192 1902136347]\nsub_key1: [603280156 445306386]"),
        ("new_key2, sub_key2", "new_key2: [2113592192 1902136347]\nsub_key2: [603280156 445306386]"),
        ("num=3", "[Array([1047329699,  140093922], dtype=uint32),\n Array([2907975018, 3484112841], dtype=uint32)]"),
        ("threefry_partitionable(False)", "[-0.01978 -0.0731  -1.07825]"),
        # Beyond the slides: a typed key draws the lecture's numbers; reusing one is caught.
        ("jax.random.normal(typed_key)", "Array(-0.5402, dtype=float32)"),
        ("jax.random.normal(typed_key, shape=(3,))", "Array([-0.01978, -0.0731 , -1.07825], dtype=float32)"),
        ("a = jax.random.normal(typed_key)", "KeyReuseError: Previously-consumed key"),
    ],
    "03-performance-jit": [
        ("SELU_np_jit(x)", "TracerArrayConversionError: The numpy.ndarray conversion method __array__() was called on traced array"),
        ("x_np.shape", "(1000, 1000)"),
        ("x_jnp.shape", "(1000, 1000)"),
        ("jax.make_jaxpr(SELU_jnp)(x)", "{ lambda ; a:f32[1000000]. let"),
    ],
    "04-autograd-vmap": [
        ("f(3.)", "9.0"),
        ("jax.grad(f)(3.)", "Array(6., dtype=float32, weak_type=True)"),
        ("jax.grad(jax.grad(f))(3.)", "Array(2., dtype=float32, weak_type=True)"),
        ("g(1.)", "Array(0.36788, dtype=float32, weak_type=True)"),
        ("jax.grad(g)(1.)", "Array(-0.36788, dtype=float32, weak_type=True)"),
        ("jax.grad(jax.grad(g))(1.)", "Array(0.36788, dtype=float32, weak_type=True)"),
        ("h(-2.)", "Array(0., dtype=float32, weak_type=True)"),
        ("h(2.)", "Array(2., dtype=float32, weak_type=True)"),
        ("y_grad = jax.grad(h)(x)",
         "TypeError: Gradient only defined for scalar-output functions. Output had shape: (101,)."),
    ],
    "05-regression": [
        ("X.shape", "(500, 8)"),
        ("y.shape", "(500,)"),
        ("fit_jit = jax.jit(fit)\n", "TypeError: Error interpreting argument to <function fit> as"),
        ("fit_jit = jax.jit(fit)\n", "as an abstract array. The problematic value is of type <class 'function'>"),
        ('jax.jit(fit, static_argnames', "ConcretizationTypeError: Abstract tracer value encountered where concrete value is expected"),
        ('jax.jit(fit, static_argnames', "This occurred in the item() method of jax.Array"),
    ],
    "06-pytrees-mlp": [
        ("lambda x: x**2", "[[1, 4, 9], [1, 4], [1, 4, 9, 16]]"),
        ("lambda x,y: x+y", "[[2, 4, 6], [2, 4], [2, 4, 6, 8]]"),
        ("jax.tree.map(type, example_trees)",
         "[[int, str, object],\n (int, (int, int), ()),\n [int, {'k1': int, 'k2': (int, int)}, int],\n"
         " {'a': int, 'b': (int, int)},\n jaxlib._jax.ArrayImpl]"),
        ("lambda x: x.shape, params",
         "[{'W': (1, 128), 'b': (128,)},\n {'W': (128, 128), 'b': (128,)},\n {'W': (128, 1), 'b': (1,)}]"),
        ("x.shape, y.shape", "((128, 1), (128, 1))"),
        ("m.loss_fn(params, x, y)", "Array(5.64001, dtype=float32)"),
        ("params_fit = m.fit(params, x, y, n=1000)", "Array(0.01788, dtype=float32)"),
    ],
}

# What the slides print, what the locked JAX prints instead, and words of the note
# beside it in the notebook (an `::: aside` on the same slide).
DRIFT = [
    # JAX 0.11.2 gave jnp.maximum a new derivative rule: the same values, no weak type.
    ("04-autograd-vmap", "jax.grad(h)(-2.)", "Array(0., dtype=float32, weak_type=True)",
     "Array(0., dtype=float32)", "without `weak_type=True`"),
    ("04-autograd-vmap", "jax.grad(h)(2.)", "Array(1., dtype=float32, weak_type=True)",
     "Array(1., dtype=float32)", "without `weak_type=True`"),
    # JAX 0.11.1 appended a hint to the error: the slide's sentence is still its start.
    ("04-autograd-vmap", "y_grad = jax.grad(h)(x)",
     "TypeError: Gradient only defined for scalar-output functions. Output had shape: (101,).",
     "TypeError: Gradient only defined for scalar-output functions. Output had shape: (101,). "
     "To get the gradient, reduce the output to a scalar with output.sum(), or use jax.jacobian",
     "adds a hint to this error"),
    # JAX 0.12.0 moved its error pages: the slides link to jax.readthedocs.io/en/latest/errors.html.
    ("03-performance-jit", "SELU_np_jit(x)", "See https://jax.readthedocs.io/en/latest/errors.html",
     "See https://docs.jax.dev/en/latest/101/errors.html", "docs.jax.dev/en/latest/101/errors.html"),
]

CASES = [(nb, src, out) for nb, pairs in EXPECTED.items() for src, out in pairs]


@pytest.mark.parametrize("notebook, source, printed", CASES, ids=[f"{n}:{s[:30]}" for n, s, _ in CASES])
def test_printed_value_is_stored(notebook, source, printed):
    nb = read(ROOT / "notebooks" / f"{notebook}.ipynb")
    assert printed in cell_text(find_cell(nb, source))


def outputs_of(nb, source):
    """The output text of every code cell whose source is exactly `source`."""
    return [cell_text(c) for c in nb.cells if c.cell_type == "code" and c.source == source]


def test_random_normal_of_the_key_printed_twice():
    nb = read(ROOT / "notebooks" / "02-prng.ipynb")
    assert outputs_of(nb, "jax.random.normal(key)") == ["Array(-0.5402, dtype=float32)"] * 2


def test_jitted_and_scanned_fits_print_what_the_eager_fit_prints():
    nb = read(ROOT / "notebooks" / "05-regression.ipynb")
    eager = outputs_of(nb, "b_hat")[-1]
    assert outputs_of(nb, "b_hat_jit") == [eager]
    assert outputs_of(nb, "b_hat_scan") == [eager]


@pytest.mark.parametrize("notebook, source, slides, today, note", DRIFT, ids=[f"{n}:{s[:30]}" for n, s, *_ in DRIFT])
def test_where_todays_jax_prints_otherwise_the_notebook_says_so(notebook, source, slides, today, note):
    nb = read(ROOT / "notebooks" / f"{notebook}.ipynb")
    stored = cell_text(find_cell(nb, source))
    assert today in stored and stored != slides, f"stored: {stored!r}"
    assert any(note in c.source for c in nb.cells if c.cell_type == "markdown"), f"no note saying {note!r}"
