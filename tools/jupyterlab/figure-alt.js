/* The lesson extension's one plugin: every figure in a notebook's output gets the text
   alternative its cell declares with Quarto's `#| fig-alt: "..."` option, the same text
   the decks and the PDF handouts carry. JupyterLab's image renderer writes no alt of its
   own. The plugin watches the page and, for each code cell with an image output, reads
   the option from the cell's source lines and sets the image's alt. */
{
  id: "sta663-lesson:figure-alt",
  autoStart: true,
  activate: function () {
    var OPTION = /^#\| fig-alt: "(.*)"\s*$/;
    function describe() {
      document.querySelectorAll(".jp-CodeCell").forEach(function (cell) {
        var images = cell.querySelectorAll(".jp-OutputArea-output img");
        if (!images.length) return;
        var alt = null;
        cell.querySelectorAll(".jp-InputArea .cm-line").forEach(function (line) {
          var m = OPTION.exec(line.textContent);
          if (m && alt === null) alt = m[1];
        });
        if (alt === null) return;
        images.forEach(function (img) { if (img.alt !== alt) img.alt = alt; });
      });
    }
    var queued = false;
    new MutationObserver(function () {
      if (queued) return;
      queued = true;
      requestAnimationFrame(function () { queued = false; describe(); });
    }).observe(document.body, {childList: true, subtree: true});
    describe();
  }
}
