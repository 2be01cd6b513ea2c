// nav.js - role helpers and hash navigation shared by the pages.
export const isPlatform = (s) => !!s && (s.role === 'platform-admin' || s.role === 'supervisor');
export const isPlatformAdmin = (s) => !!s && s.role === 'platform-admin';
export const isTenantRole = (s) => !!s && /^tenant-/.test(s.role || '');
export const canManageTenant = (s) => !!s && (s.role === 'platform-admin' || s.role === 'tenant-admin');

export function go(path) {
  location.hash = '#' + path;
}
