// "Scan a QR code" on the verify page: the browser's own BarcodeDetector and camera, nothing
// downloaded. The scan block stays hidden where the browser cannot read QR codes. When a code is
// read, its text goes into the paste box and the form is submitted, so a scanned verify link
// or credential is checked exactly like a pasted one.
(function () {
  "use strict";

  var scan = document.getElementById("scan");
  var form = document.getElementById("verify-form");
  var pasteBox = document.getElementById("credential");
  if (!scan || !form || !pasteBox) {
    return;
  }
  var startButton = document.getElementById("scan-button");
  var stopButton = document.getElementById("scan-stop");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var INTERVAL_MS = 250;

  var supported =
    "BarcodeDetector" in window &&
    !!navigator.mediaDevices &&
    typeof navigator.mediaDevices.getUserMedia === "function";
  if (!supported) {
    return;
  }

  var stream = null;
  var timer = null;
  var detector = null;

  function say(key) {
    status.textContent = scan.getAttribute("data-msg-" + key) || "";
  }

  function stop() {
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
      stream = null;
    }
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function submitText(text) {
    pasteBox.value = text;
    say("found");
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function look() {
    detector
      .detect(video)
      .then(function (codes) {
        var text = codes.length ? codes[0].rawValue : "";
        if (text) {
          stop();
          submitText(text);
        } else if (stream) {
          timer = window.setTimeout(look, INTERVAL_MS);
        }
      })
      .catch(function () {
        if (stream) {
          timer = window.setTimeout(look, INTERVAL_MS);
        }
      });
  }

  function start() {
    say("starting");
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (error) {
      say("unsupported");
      return;
    }
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        stopButton.hidden = false;
        startButton.hidden = true;
        return video.play();
      })
      .then(function () {
        say("looking");
        look();
      })
      .catch(function () {
        stop();
        say("denied");
      });
  }

  window.BarcodeDetector.getSupportedFormats()
    .then(function (formats) {
      if (formats.indexOf("qr_code") === -1) {
        return;
      }
      scan.hidden = false;
      startButton.addEventListener("click", start);
      stopButton.addEventListener("click", function () {
        stop();
        status.textContent = "";
      });
    })
    .catch(function () {
      // No usable detector: the button stays hidden and upload or paste remain.
    });
})();
