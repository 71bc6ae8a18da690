// Builds the window into dist/renderer: served by `bazil serve`, loaded by Electron's window.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [react()],
  publicDir: '../assets',
  build: { outDir: '../dist/renderer', emptyOutDir: true, sourcemap: true },
});
