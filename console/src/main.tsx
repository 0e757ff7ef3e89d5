import { render } from "preact";
import { App } from "./app.tsx";
import "./styles.css";

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
// The first screen (sign-in, or the page of a signed-in tab) is rendered and takes input from here.
performance.mark("console-interactive");
