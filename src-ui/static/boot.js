// Loads the Yew app (wasm). A separate file because the CSP allows no inline script.
import init from './app.js';
init();
