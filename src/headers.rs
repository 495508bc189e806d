//! Reading, adding and removing request headers, and adding response headers, on nginx's
//! header lists (the same code for nginx 1.22 and 1.23+).

use std::{ptr, slice};

use ngx::ffi::{
    ngx_hash_strlow, ngx_http_request_t, ngx_list_push, ngx_list_t, ngx_palloc, ngx_pnalloc,
    ngx_pool_t, ngx_str_t, ngx_table_elt_t,
};
use sso_core::header_block::{HeaderBlock, Item};

/// Bytes of an `ngx_str_t` (empty for a null/zero-length one).
///
/// # Safety
/// `s` must describe valid memory for its length, living as long as the returned slice.
pub unsafe fn bytes<'a>(s: &ngx_str_t) -> &'a [u8] {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        if s.len == 0 || s.data.is_null() {
            &[]
        } else {
            slice::from_raw_parts(s.data, s.len)
        }
    }
}

/// Calls `f` for every element of an nginx list of `ngx_table_elt_t`.
///
/// # Safety
/// `list` must be a valid, initialised list of `ngx_table_elt_t`.
pub unsafe fn for_each(list: *const ngx_list_t, mut f: impl FnMut(*mut ngx_table_elt_t)) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let mut part = ptr::addr_of!((*list).part);
        while !part.is_null() {
            let elts = (*part).elts as *mut ngx_table_elt_t;
            for i in 0..(*part).nelts {
                f(elts.add(i));
            }
            part = (*part).next;
        }
    }
}

/// The value of the first request header named `name` (case-insensitive).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn find_in<'a>(r: *const ngx_http_request_t, name: &[u8]) -> Option<&'a [u8]> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let mut found = None;
        for_each(ptr::addr_of!((*r).headers_in.headers), |h| {
            if found.is_none() && (*h).hash != 0 && bytes(&(*h).key).eq_ignore_ascii_case(name) {
                found = Some(bytes(&(*h).value));
            }
        });
        found
    }
}

/// Calls `f` with the value of every request header named `name` (case-insensitive).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn each_in<'a>(r: *const ngx_http_request_t, name: &[u8], mut f: impl FnMut(&'a [u8])) {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        for_each(ptr::addr_of!((*r).headers_in.headers), |h| {
            if (*h).hash != 0 && bytes(&(*h).key).eq_ignore_ascii_case(name) {
                f(bytes(&(*h).value));
            }
        });
    }
}

/// The value of the first cookie called `name` in the request's `Cookie` headers.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn find_cookie<'a>(r: *const ngx_http_request_t, name: &[u8]) -> Option<&'a [u8]> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let mut found = None;
        each_in(r, b"cookie", |value| {
            if found.is_none() {
                found = sso_core::cookie::find(value, name);
            }
        });
        found
    }
}

/// Removes every request header for which `remove(name)` is true. Returns whether anything
/// was removed, or `Err(())` when the request pool is out of memory (the caller must refuse
/// the request: the headers are still there).
///
/// nginx lists cannot delete in place, and modules keep pointers to some elements (Host,
/// Cookie, ...). When something must go, the kept elements are copied, in order, into one
/// fresh part (a new array from the request pool); the old elements stay where they were, so
/// any pointer into them still reads the same key and value. Nothing is allocated when no
/// header matches, which is the common case, unless `own_list` asks for the copy anyway: a
/// subrequest's `headers_in` is a shallow copy of its parent's, whose parts it shares, so it
/// needs a part of its own before anything is pushed onto it (a push would write into the
/// parent's array).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn remove_in(
    r: *mut ngx_http_request_t,
    remove: impl Fn(&[u8]) -> bool,
    own_list: bool,
) -> Result<bool, ()> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let list = ptr::addr_of_mut!((*r).headers_in.headers);
        let mut total = 0usize;
        let mut doomed = 0usize;
        for_each(list, |h| {
            total += 1;
            if remove(bytes(&(*h).key)) {
                doomed += 1;
            }
        });
        if doomed == 0 && !own_list {
            return Ok(false);
        }
        let kept = total - doomed;
        let capacity = kept.max((*list).nalloc).max(1) + if own_list { 16 } else { 0 };
        let size = std::mem::size_of::<ngx_table_elt_t>();
        let array = ngx_palloc((*r).pool, capacity * size) as *mut ngx_table_elt_t;
        if array.is_null() {
            return Err(());
        }
        let mut n = 0usize;
        for_each(list, |h| {
            if !remove(bytes(&(*h).key)) {
                ptr::copy_nonoverlapping(h, array.add(n), 1);
                n += 1;
            }
        });
        (*list).part.elts = array.cast();
        (*list).part.nelts = n;
        (*list).part.next = ptr::null_mut();
        (*list).nalloc = capacity;
        (*list).last = ptr::addr_of_mut!((*list).part);
        Ok(doomed > 0)
    }
}

unsafe fn pool_copy(pool: *mut ngx_pool_t, data: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: every caller passes valid nginx pointers, on nginx's thread.
    unsafe {
        if data.is_empty() {
            return Some(ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            });
        }
        let p = ngx_pnalloc(pool, data.len()) as *mut u8;
        if p.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
        Some(ngx_str_t {
            len: data.len(),
            data: p,
        })
    }
}

/// Appends a header to `list`, copying name and value into `pool`. For request headers the
/// lowercase key and its hash are set as nginx's parser would (so `proxy_set_header` can
/// still override it); for response headers pass `lowcase = false`.
///
/// # Safety
/// `list` and `pool` must be valid.
pub unsafe fn push(
    list: *mut ngx_list_t,
    pool: *mut ngx_pool_t,
    name: &[u8],
    value: &[u8],
    lowcase: bool,
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let h = ngx_list_push(list) as *mut ngx_table_elt_t;
        if h.is_null() {
            return None;
        }
        // Zeroing also clears `next` (nginx 1.23+), so the code is the same for both ABIs.
        ptr::write_bytes(h, 0, 1);
        (*h).key = pool_copy(pool, name)?;
        (*h).value = pool_copy(pool, value)?;
        if lowcase {
            let lc = ngx_pnalloc(pool, name.len().max(1)) as *mut u8;
            if lc.is_null() {
                (*h).hash = 0;
                return None;
            }
            (*h).hash = ngx_hash_strlow(lc, (*h).key.data, name.len());
            (*h).lowcase_key = lc;
        } else {
            (*h).hash = 1;
        }
        Some(h)
    }
}

/// `data` copied into the request pool.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn pool_str(r: *mut ngx_http_request_t, data: &[u8]) -> Option<ngx_str_t> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe { pool_copy((*r).pool, data) }
}

/// Copies a rendered [`HeaderBlock`] into the request pool, once per request; the items are
/// then added with [`add_block_item`]. None when the pool is out of memory.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn copy_block(r: *mut ngx_http_request_t, block: &HeaderBlock) -> Option<*mut u8> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let bytes = block.bytes();
        let p = ngx_pnalloc((*r).pool, bytes.len().max(1)) as *mut u8;
        if p.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        Some(p)
    }
}

/// Adds one item of a block copied by [`copy_block`] to the request headers: name, lowercase
/// name and nginx's hash as rendered, no further copy. `value` replaces the item's value
/// (memory that lives as long as the request).
///
/// # Safety
/// `r` must be a valid request and `copy` the result of `copy_block(r, block)` for the block
/// `item` belongs to.
pub unsafe fn add_block_item(
    r: *mut ngx_http_request_t,
    copy: *mut u8,
    item: &Item,
    value: Option<ngx_str_t>,
) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        let h = ngx_list_push(ptr::addr_of_mut!((*r).headers_in.headers)) as *mut ngx_table_elt_t;
        if h.is_null() {
            return false;
        }
        let part = |range: std::ops::Range<usize>| ngx_str_t {
            len: range.len(),
            data: copy.add(range.start),
        };
        ptr::write_bytes(h, 0, 1);
        (*h).key = part(item.name());
        (*h).value = value.unwrap_or_else(|| part(item.value()));
        (*h).lowcase_key = copy.add(item.lowercase().start);
        (*h).hash = item.hash();
        true
    }
}

/// Adds a request header (for the upstream).
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn add_in(r: *mut ngx_http_request_t, name: &[u8], value: &[u8]) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        push(
            ptr::addr_of_mut!((*r).headers_in.headers),
            (*r).pool,
            name,
            value,
            true,
        )
        .is_some()
    }
}

/// Adds a response header.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn add_out(
    r: *mut ngx_http_request_t,
    name: &[u8],
    value: &[u8],
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        push(
            ptr::addr_of_mut!((*r).headers_out.headers),
            (*r).pool,
            name,
            value,
            false,
        )
    }
}

/// Replaces the request's `Authorization` for the upstream (README "Identity headers" →
/// `sso_basic_auth_attributes`): every client-sent one is removed from the list, and
/// `value`, when given, is added and becomes `r->headers_in.authorization` (what nginx's own
/// modules read), so no copy of the client's header reaches the upstream. False when the
/// pool is out of memory (the caller refuses the request).
///
/// # Safety
/// `r` must be a valid request whose header list is its own (a subrequest's was copied in
/// PREACCESS).
pub unsafe fn replace_authorization(r: *mut ngx_http_request_t, value: Option<&[u8]>) -> bool {
    // SAFETY: the caller guarantees what the `# Safety` section above asks.
    unsafe {
        if remove_in(r, |name| name.eq_ignore_ascii_case(b"authorization"), false).is_err() {
            return false;
        }
        (*r).headers_in.authorization = ptr::null_mut();
        let Some(value) = value else {
            return true;
        };
        match push(
            ptr::addr_of_mut!((*r).headers_in.headers),
            (*r).pool,
            b"Authorization",
            value,
            true,
        ) {
            Some(h) => {
                (*r).headers_in.authorization = h;
                true
            }
            None => false,
        }
    }
}
