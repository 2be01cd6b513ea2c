// nav.js - role helpers and hash navigation shared by the pages.
export const isPlatform = (s) => !!s && (s.role === 'platform-admin' || s.role === 'supervisor');
export const isPlatformAdmin = (s) => !!s && s.role === 'platform-admin';
export const isTenantRole = (s) => !!s && /^tenant-/.test(s.role || '');
export const canManageTenant = (s) => !!s && (s.role === 'platform-admin' || s.role === 'tenant-admin');
/* Object data (src/iam/authz.c): tenant admins and members read, upload and delete; tenant
 * readers list and download only; supervisors and platform admins never read it. A bucket
 * policy can narrow this further (the API then answers 403, shown as an error). */
export const canWriteObjects = (s) => !!s && (s.role === 'tenant-admin' || s.role === 'tenant-member');

export function go(path) {
  location.hash = '#' + path;
}
