// The templates new scripts start from, one per runtime (the original gateway's
// templates page).

import { h, mount, errorBox, toast, field } from '../dom.js';
import { api } from '../api.js';

export async function render(main) {
  const cards = await Promise.all(['python', 'js'].map(async (runtime) => {
    const template = await api(`/api/templates/${runtime}`);
    const area = h('textarea', { id: `tpl-${runtime}`, class: 'mono code', rows: 14, spellcheck: 'false', value: template.content });
    const outcome = h('div');
    return h('form', {
      class: 'card',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api(`/api/templates/${runtime}`, { method: 'PUT', body: { content: area.value } });
          toast(`The ${runtime} template is saved`);
        } catch (error) { mount(outcome, errorBox(error)); }
      },
    }, h('h2', {}, runtime === 'js' ? 'JavaScript' : 'Python', template.custom ? h('span', { class: 'badge' }, 'custom') : h('span', { class: 'badge' }, 'built-in')),
    field('Template', area), outcome, h('button', { type: 'submit' }, 'Save template'));
  }));
  mount(main, h('h1', {}, 'Templates'),
    h('p', { class: 'muted' }, 'New scripts created from a template start with this text.'), cards);
}
