// The exercise page's editor: CodeMirror over the form's textarea (the form works without it too).
(function () {
  var area = document.getElementById("source");
  if (!area || typeof CodeMirror === "undefined") return;
  var editor = CodeMirror.fromTextArea(area, {
    mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, indentWithTabs: false,
    extraKeys: {Tab: function (cm) { cm.replaceSelection("    "); }}
  });
  editor.setSize(null, "32em");
  window.losslabEditor = editor;
})();
