-- SPDX-License-Identifier: LGPL-2.1-only
-- pandoc filter that makes man pages of the NAME.N.md pages of docs/
-- (docs/Makefile): section headings in capitals, as man pages have them;
-- a link to another page of docs/ becomes its text (the page is not
-- beside the man page); and the install directories the pages write as
-- make variables, $(datadir) and the like, become the paths this build
-- installs to, given as metadata (-M datadir=/usr/share).

local dirs = {}
local names = { 'prefix', 'sbindir', 'libexecdir', 'datadir', 'docdir',
                'systemdunitdir' }

local function get_dirs(meta)
  for _, k in ipairs(names) do
    if meta[k] then
      dirs[k] = pandoc.utils.stringify(meta[k])
    end
  end
end

local function subst(s)
  for k, v in pairs(dirs) do
    s = s:gsub('%$%(' .. k .. '%)', (v:gsub('%%', '%%%%')))
  end
  return s
end

local function heading(h)
  if h.level == 1 then
    return pandoc.walk_block(h, {
      Str = function(s) return pandoc.Str(pandoc.text.upper(s.text)) end,
    })
  end
end

local function link(l)
  if not l.target:match('^%a[%w+.-]*:') then
    return l.content
  end
end

return {
  { Meta = get_dirs },
  {
    Str = function(s) return pandoc.Str(subst(s.text)) end,
    Code = function(c) c.text = subst(c.text); return c end,
    CodeBlock = function(c) c.text = subst(c.text); return c end,
    Header = heading,
    Link = link,
  },
}
