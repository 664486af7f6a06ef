// Apply the state filter as soon as it is chosen; without scripts the
// Filter button does the same.
document.querySelectorAll("form.filter select").forEach(function (s) {
  s.addEventListener("change", function () { s.form.submit(); });
});
