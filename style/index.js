// The extension's styles as one <style> element. The builder's `.raw.css`
// rule hands over the text, so start-up loads no style-loader runtime (it
// weighed three times the CSS).
import css from './base.raw.css';

const style = document.createElement('style');
style.dataset.jupyterlabCartoAuth = '';
style.textContent = css;
document.head.appendChild(style);
