import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { App } from './App';
import { takeTokenFromFragment } from './auth';
import './styles.css';

// Before anything renders: move a token from the URL fragment into sessionStorage and clean the
// address bar.
takeTokenFromFragment();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
