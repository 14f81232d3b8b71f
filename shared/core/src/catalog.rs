//! The store's catalog as Doorstep sees it, and recommendations that fit.
//!
//! Products arrive from the stores' product webhooks. Every order Doorstep ingests is counted
//! once: each pair of its products bumps the pair's count in both products' neighbour lists (one
//! precomputed list per product, capped), and each product's sales for the day. A page then reads
//! the neighbour lists of the order's items and nothing else: O(items), never a scan.

use crate::ids::ProductId;
use crate::model::{Customer, Order};
use crate::settings::Settings;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The products of one order that count into co-purchases (a large order adds little signal).
pub const MAX_PRODUCTS_COUNTED: usize = 12;
/// Neighbours a product keeps (the most bought-with).
pub const MAX_NEIGHBOURS: usize = 50;
/// Best sellers kept for the fallback.
pub const MAX_BEST_SELLERS: usize = 24;
/// How far back best sellers look.
pub const BEST_SELLER_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub active: bool,
    pub in_stock: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The store's own update time: an older snapshot never overwrites a newer one.
    pub source_updated_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Product {
    /// Whether it may be offered at all.
    pub fn offerable(&self) -> bool {
        self.active && self.in_stock
    }

    /// Its page: the store's permalink, else `{store_url}/products/{handle}` (Shopify).
    pub fn page_url(&self, settings: &Settings) -> Option<String> {
        let safe = |url: &str| url.starts_with("https://") || url.starts_with("http://");
        if let Some(url) = self.url.as_deref().filter(|u| safe(u)) {
            return Some(url.to_string());
        }
        let store = settings.store_url.as_deref()?.trim_end_matches('/');
        let handle = self.handle.as_deref()?;
        let handle: String = form_urlencoded::byte_serialize(handle.as_bytes()).collect();
        Some(format!("{store}/products/{handle}"))
    }
}

/// The products most often bought with one product, counted once per order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neighbours {
    pub product: ProductId,
    /// Most bought-with first; at most [`MAX_NEIGHBOURS`].
    pub counts: Vec<(ProductId, u32)>,
    #[serde(default)]
    pub version: u64,
}

impl Neighbours {
    pub fn new(product: ProductId) -> Self {
        Self {
            product,
            counts: Vec::new(),
            version: 0,
        }
    }

    /// Counts one more order that had these products with this one.
    pub fn add(&mut self, bought_with: &[ProductId]) {
        for other in bought_with.iter().filter(|p| **p != self.product) {
            match self.counts.iter_mut().find(|(p, _)| p == other) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => self.counts.push((other.clone(), 1)),
            }
        }
        // Highest count first; ties by id, so the list is the same whatever the order counted in.
        self.counts
            .sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
        self.counts.truncate(MAX_NEIGHBOURS);
    }
}

/// The store's best sellers over the last [`BEST_SELLER_DAYS`] days, as the `best-sellers` job
/// last computed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestSellers {
    pub computed_at: DateTime<Utc>,
    pub products: Vec<(ProductId, u64)>,
}

/// The products an order counts into co-purchases and sales: each once, at most
/// [`MAX_PRODUCTS_COUNTED`].
pub fn counted_products(order: &Order) -> Vec<ProductId> {
    let mut products = order.product_ids();
    products.truncate(MAX_PRODUCTS_COUNTED);
    products
}

/// Recommendation candidates for an order, best first: the products most often bought with its
/// items (summed over them), never one of its own items and never one the customer must not be
/// offered (bought, refunded, reviewed poorly). Products are checked for stock later.
pub fn candidates(
    order_products: &[ProductId],
    neighbours: &[Neighbours],
    customer: Option<&Customer>,
) -> Vec<ProductId> {
    let mut scores: BTreeMap<&ProductId, u64> = BTreeMap::new();
    for list in neighbours
        .iter()
        .filter(|n| order_products.contains(&n.product))
    {
        for (product, count) in &list.counts {
            *scores.entry(product).or_default() += u64::from(*count);
        }
    }
    let mut ranked: Vec<(&ProductId, u64)> = scores
        .into_iter()
        .filter(|(p, _)| !order_products.contains(p) && !excluded(customer, p))
        .collect();
    ranked.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
    ranked.into_iter().map(|(p, _)| p.clone()).collect()
}

/// The fallback when an order's items have no (or too few) co-purchases: best sellers, under
/// the same exclusions.
pub fn fallback(
    order_products: &[ProductId],
    best: Option<&BestSellers>,
    customer: Option<&Customer>,
) -> Vec<ProductId> {
    best.map(|b| {
        b.products
            .iter()
            .map(|(p, _)| p)
            .filter(|p| !order_products.contains(p) && !excluded(customer, p))
            .cloned()
            .collect()
    })
    .unwrap_or_default()
}

fn excluded(customer: Option<&Customer>, product: &ProductId) -> bool {
    customer.is_some_and(|c| c.excludes(product))
}

/// The first `count` candidates that can be offered (known, active, in stock), in order.
pub fn pick(candidates: &[ProductId], products: &[Product], count: usize) -> Vec<Product> {
    let mut picked: Vec<Product> = Vec::new();
    for id in candidates {
        if picked.len() == count {
            break;
        }
        if let Some(product) = products.iter().find(|p| &p.id == id && p.offerable()) {
            if !picked.iter().any(|p| p.id == product.id) {
                picked.push(product.clone());
            }
        }
    }
    picked
}

/// Best sellers from summed sales, most sold first.
pub fn best_sellers(mut sales: Vec<(ProductId, u64)>, now: DateTime<Utc>) -> BestSellers {
    sales.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
    sales.truncate(MAX_BEST_SELLERS);
    BestSellers {
        computed_at: now,
        products: sales,
    }
}

/// Recomputes the best sellers from the daily sales counts (the `best-sellers` job).
pub async fn refresh_best_sellers(
    store: &dyn crate::ports::Store,
    now: DateTime<Utc>,
) -> Result<BestSellers, crate::ports::StoreError> {
    let sales = store.sales_since(best_seller_window(now)).await?;
    let best = best_sellers(sales, now);
    store.save_best_sellers(&best).await?;
    Ok(best)
}

/// The first day best sellers count from.
pub fn best_seller_window(now: DateTime<Utc>) -> NaiveDate {
    crate::bounds::earlier(now, chrono::Duration::days(BEST_SELLER_DAYS)).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Provider;

    fn id(n: u32) -> ProductId {
        ProductId::new(Provider::Shopify, &n.to_string())
    }

    #[test]
    fn neighbour_lists_rank_by_count_and_stay_capped() {
        let mut list = Neighbours::new(id(1));
        list.add(&[id(1), id(2), id(3)]);
        list.add(&[id(1), id(3)]);
        assert_eq!(list.counts, vec![(id(3), 2), (id(2), 1)]);
        let many: Vec<ProductId> = (2..200).map(id).collect();
        list.add(&many);
        assert_eq!(list.counts.len(), MAX_NEIGHBOURS);
        assert_eq!(list.counts[0], (id(3), 3));
    }
}
