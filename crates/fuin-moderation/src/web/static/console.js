// fuin moderation console: the only script, served from /static (the
// Content-Security-Policy allows no inline script). It reveals a blurred
// reported image when its button is clicked, and nothing else.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("button.reveal") : null;
  if (!button) {
    return;
  }
  var figure = button.closest("figure.attachment");
  var image = figure ? figure.querySelector("img") : null;
  if (!image) {
    return;
  }
  image.classList.remove("blurred");
  image.classList.add("revealed");
  image.alt = "Reported image";
  button.disabled = true;
  button.textContent = "Shown";
});
