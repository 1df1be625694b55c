// Puts this server's address into the embedding snippets (as text, never as HTML).
(function () {
  "use strict";
  var here = location.origin + "/widget/kakehashi-widget.js";
  var codes = document.querySelectorAll(".js-short, .js-full");
  for (var i = 0; i < codes.length; i++) {
    codes[i].textContent = codes[i].textContent.replace("https://kakehashi.example.org/widget/kakehashi-widget.js", here);
  }
})();
