#include "emulator/tenant.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <date/tz.h>
#include <fmt/format.h>

namespace aquaduct::emulator {

namespace {

using ft = field_type;

// Every object starts with Id and ends with these four (contract §8).
#define AQ_COMMON_TAIL                                          \
  field_def{"CreatedDate", "Created Date", ft::datetime},       \
      field_def{"UpdatedDate", "Updated Date", ft::datetime},   \
      field_def{"CreatedById", "Created By ID", ft::id},        \
      field_def{"UpdatedById", "Updated By ID", ft::id}

// Picklist options (describe lists them; the generator draws from them).
template <std::size_t N>
using option_list = std::array<std::string_view, N>;
constexpr option_list<5> currency_options{"USD", "EUR", "GBP", "JPY", "CHF"};
constexpr option_list<3> account_status_options{"Draft", "Active", "Canceled"};
constexpr option_list<4> batch_options{"Batch1", "Batch2", "Batch3", "Batch20"};
constexpr option_list<3> payment_method_type_options{"CreditCard", "ACH", "PayPal"};
constexpr option_list<2> card_type_options{"Visa", "MasterCard"};
constexpr option_list<2> active_closed_options{"Active", "Closed"};
constexpr option_list<4> charge_model_options{"Flat Fee Pricing", "Per Unit Pricing", "Tiered Pricing",
                                              "Volume Pricing"};
constexpr option_list<3> charge_type_options{"Recurring", "OneTime", "Usage"};
constexpr option_list<3> billing_period_options{"Month", "Quarter", "Annual"};
constexpr option_list<3> subscription_status_options{"Active", "Cancelled", "Expired"};
constexpr option_list<2> term_type_options{"TERMED", "EVERGREEN"};
constexpr option_list<2> amendment_type_options{"NewProduct", "UpdateProduct"};
constexpr option_list<3> invoice_status_options{"Draft", "Posted", "Canceled"};
constexpr option_list<3> payment_status_options{"Processed", "Error", "Voided"};
constexpr option_list<2> payment_type_options{"Electronic", "External"};
constexpr option_list<2> source_transaction_options{"Invoice", "Payment"};
constexpr option_list<2> processed_canceled_options{"Processed", "Canceled"};
constexpr option_list<2> increase_decrease_options{"Increase", "Decrease"};
constexpr option_list<2> credit_charge_options{"Credit", "Charge"};
constexpr option_list<3> reason_code_options{"Standard Adjustment", "Write-off", "Goodwill, \"courtesy\" credit"};
constexpr option_list<2> open_closed_options{"Open", "Closed"};

constexpr std::array account_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountNumber", "Account Number", ft::text},
    field_def{"Name", "Name", ft::text},
    field_def{"Balance", "Balance", ft::decimal},
    field_def{"CreditBalance", "Credit Balance", ft::decimal},
    field_def{"AutoPay", "Auto Pay", ft::boolean},
    field_def{"Currency", "Currency", ft::picklist, currency_options},
    field_def{"BillCycleDay", "Bill Cycle Day", ft::integer},
    field_def{"PaymentTerm", "Payment Term", ft::text},
    field_def{"Status", "Status", ft::picklist, account_status_options},
    field_def{"Batch", "Batch", ft::picklist, batch_options},
    field_def{"SalesRepName", "Sales Rep Name", ft::text},
    field_def{"ParentId", "Parent ID", ft::id},
    field_def{"CrmId", "CRM ID", ft::text},
    field_def{"BillToId", "Bill To ID", ft::id},
    field_def{"SoldToId", "Sold To ID", ft::id},
    field_def{"DefaultPaymentMethodId", "Default Payment Method ID", ft::id},
    field_def{"Notes", "Notes", ft::longtext},
    // decimal(22,9) beyond double precision: kept exact (field_value::kind::exact).
    field_def{"LedgerBalance", "Ledger Balance", ft::decimal},
    // Listed with the export context, refused by export (docs/emulator.md).
    field_def{"SequenceSetId", "Sequence Set ID", ft::text, {}, field_access::refused},
    AQ_COMMON_TAIL,
};
constexpr std::array account_relations{
    relation_def{"BillToContact", "Bill To", "Contact", {"BillToId"}},
    relation_def{"SoldToContact", "Sold To", "Contact", {"SoldToId"}},
    relation_def{"DefaultPaymentMethod", "Default Payment Method", "PaymentMethod", {"DefaultPaymentMethodId"}},
    relation_def{"ParentAccount", "Parent Account", "Account", {"ParentId"}},
};

constexpr std::array contact_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"FirstName", "First Name", ft::text},
    field_def{"LastName", "Last Name", ft::text},
    field_def{"WorkEmail", "Work Email", ft::text},
    field_def{"PersonalEmail", "Personal Email", ft::text},
    field_def{"Address1", "Address 1", ft::text},
    field_def{"City", "City", ft::text},
    field_def{"State", "State/Province", ft::text},
    field_def{"PostalCode", "Postal Code", ft::text},
    field_def{"Country", "Country", ft::text},
    AQ_COMMON_TAIL,
};
constexpr std::array account_only{relation_def{"Account", "Account", "Account", {"AccountId"}}};

constexpr std::array payment_method_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"Type", "Type", ft::picklist, payment_method_type_options},
    field_def{"CreditCardType", "Credit Card Type", ft::picklist, card_type_options},
    field_def{"CreditCardMaskNumber", "Credit Card Mask Number", ft::text},
    field_def{"PaymentMethodStatus", "Payment Method Status", ft::picklist, active_closed_options},
    AQ_COMMON_TAIL,
};

constexpr std::array product_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"SKU", "SKU", ft::text},
    field_def{"Description", "Description", ft::text},
    field_def{"EffectiveStartDate", "Effective Start Date", ft::date},
    field_def{"EffectiveEndDate", "Effective End Date", ft::date},
    AQ_COMMON_TAIL,
};

constexpr std::array product_rate_plan_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"ProductId", "Product ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"Description", "Description", ft::text},
    field_def{"EffectiveStartDate", "Effective Start Date", ft::date},
    field_def{"EffectiveEndDate", "Effective End Date", ft::date},
    AQ_COMMON_TAIL,
};
constexpr std::array product_rate_plan_relations{
    relation_def{"Product", "Product", "Product", {"ProductId"}},
};

constexpr std::array product_rate_plan_charge_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"ProductRatePlanId", "Product Rate Plan ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"ChargeModel", "Charge Model", ft::picklist, charge_model_options},
    field_def{"ChargeType", "Charge Type", ft::picklist, charge_type_options},
    field_def{"BillingPeriod", "Billing Period", ft::picklist, billing_period_options},
    AQ_COMMON_TAIL,
};
constexpr std::array product_rate_plan_charge_relations{
    relation_def{"Product", "Product", "Product", {"ProductRatePlanId", "ProductId"}},
    relation_def{"ProductRatePlan", "Product Rate Plan", "ProductRatePlan", {"ProductRatePlanId"}},
};

constexpr std::array subscription_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"Status", "Status", ft::picklist, subscription_status_options},
    field_def{"Version", "Version", ft::integer},
    field_def{"AutoRenew", "Auto Renew", ft::boolean},
    field_def{"TermType", "Term Type", ft::picklist, term_type_options},
    field_def{"TermStartDate", "Term Start Date", ft::date},
    field_def{"TermEndDate", "Term End Date", ft::date},
    field_def{"SubscriptionStartDate", "Subscription Start Date", ft::date},
    field_def{"CancelledDate", "Cancelled Date", ft::date},
    field_def{"RenewalTerm", "Renewal Term", ft::integer},
    field_def{"IsInvoiceSeparate", "Invoice Separately", ft::boolean},
    field_def{"CpqBundleJsonId__QT", "CPQ Bundle JSON ID", ft::text, {}, field_access::refused},
    AQ_COMMON_TAIL,
};
constexpr std::array subscription_relations{
    relation_def{"Account", "Account", "Account", {"AccountId"}},
    relation_def{"BillToContact", "Bill To", "Contact", {"AccountId", "BillToId"}},
    relation_def{"SoldToContact", "Sold To", "Contact", {"AccountId", "SoldToId"}},
};

constexpr std::array rate_plan_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"SubscriptionId", "Subscription ID", ft::id},
    field_def{"ProductRatePlanId", "Product Rate Plan ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"AmendmentType", "Amendment Type", ft::picklist, amendment_type_options},
    AQ_COMMON_TAIL,
};
constexpr std::array rate_plan_relations{
    relation_def{"Account", "Account", "Account", {"SubscriptionId", "AccountId"}},
    relation_def{"Subscription", "Subscription", "Subscription", {"SubscriptionId"}},
    relation_def{"Product", "Product", "Product", {"ProductRatePlanId", "ProductId"}},
    relation_def{"ProductRatePlan", "Product Rate Plan", "ProductRatePlan", {"ProductRatePlanId"}},
};

constexpr std::array rate_plan_charge_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"RatePlanId", "Rate Plan ID", ft::id},
    field_def{"ProductRatePlanChargeId", "Product Rate Plan Charge ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"ChargeNumber", "Charge Number", ft::text},
    field_def{"ChargeModel", "Charge Model", ft::picklist, charge_model_options},
    field_def{"ChargeType", "Charge Type", ft::picklist, charge_type_options},
    field_def{"Quantity", "Quantity", ft::decimal},
    field_def{"Price", "Price", ft::decimal},
    field_def{"MRR", "MRR", ft::decimal},
    field_def{"TCV", "TCV", ft::decimal},
    field_def{"EffectiveStartDate", "Effective Start Date", ft::date},
    field_def{"EffectiveEndDate", "Effective End Date", ft::date},
    field_def{"BillingPeriod", "Billing Period", ft::picklist, billing_period_options},
    AQ_COMMON_TAIL,
};
constexpr std::array rate_plan_charge_relations{
    relation_def{"Account", "Account", "Account", {"RatePlanId", "SubscriptionId", "AccountId"}},
    relation_def{"Subscription", "Subscription", "Subscription", {"RatePlanId", "SubscriptionId"}},
    relation_def{"RatePlan", "Rate Plan", "RatePlan", {"RatePlanId"}},
    relation_def{"Product", "Product", "Product", {"ProductRatePlanChargeId", "ProductRatePlanId", "ProductId"}},
    relation_def{"ProductRatePlan", "Product Rate Plan", "ProductRatePlan",
                 {"ProductRatePlanChargeId", "ProductRatePlanId"}},
    relation_def{"ProductRatePlanCharge", "Product Rate Plan Charge", "ProductRatePlanCharge",
                 {"ProductRatePlanChargeId"}},
};

constexpr std::array invoice_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"InvoiceNumber", "Invoice Number", ft::text},
    field_def{"InvoiceDate", "Invoice Date", ft::date},
    field_def{"DueDate", "Due Date", ft::date},
    field_def{"Amount", "Amount", ft::decimal},
    field_def{"AmountWithoutTax", "Amount Without Tax", ft::decimal},
    field_def{"TaxAmount", "Tax Amount", ft::decimal},
    field_def{"Balance", "Balance", ft::decimal},
    field_def{"Status", "Status", ft::picklist, invoice_status_options},
    field_def{"LastEmailSentDate", "Last Email Sent Date", ft::timestamp},
    // The invoice PDF, base64: SOAP only, never exported (as on the real service).
    field_def{"Body", "Body", ft::text, {}, field_access::soap_only},
    AQ_COMMON_TAIL,
};

constexpr std::array invoice_item_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"InvoiceId", "Invoice ID", ft::id},
    field_def{"SubscriptionId", "Subscription ID", ft::id},
    field_def{"RatePlanChargeId", "Rate Plan Charge ID", ft::id},
    field_def{"AccountingPeriodId", "Accounting Period ID", ft::id},
    field_def{"ChargeName", "Charge Name", ft::text},
    field_def{"ChargeNumber", "Charge Number", ft::text},
    field_def{"ChargeAmount", "Charge Amount", ft::decimal},
    field_def{"ChargeDate", "Charge Date", ft::datetime},
    field_def{"Quantity", "Quantity", ft::decimal},
    field_def{"UnitPrice", "Unit Price", ft::decimal},
    field_def{"ProcessingType", "Processing Type", ft::integer},
    field_def{"ServiceStartDate", "Service Start Date", ft::date},
    field_def{"ServiceEndDate", "Service End Date", ft::date},
    field_def{"SKU", "SKU", ft::text},
    field_def{"UOM", "UOM", ft::text},
    field_def{"TaxAmount", "Tax Amount", ft::decimal},
    AQ_COMMON_TAIL,
};
constexpr std::array invoice_item_relations{
    relation_def{"Account", "Account", "Account", {"InvoiceId", "AccountId"}},
    relation_def{"Invoice", "Invoice", "Invoice", {"InvoiceId"}},
    relation_def{"Subscription", "Subscription", "Subscription", {"SubscriptionId"}},
    relation_def{"RatePlan", "Rate Plan", "RatePlan", {"RatePlanChargeId", "RatePlanId"}},
    relation_def{"RatePlanCharge", "Rate Plan Charge", "RatePlanCharge", {"RatePlanChargeId"}},
    relation_def{"Product", "Product", "Product",
                 {"RatePlanChargeId", "ProductRatePlanChargeId", "ProductRatePlanId", "ProductId"}},
    relation_def{"ProductRatePlan", "Product Rate Plan", "ProductRatePlan",
                 {"RatePlanChargeId", "ProductRatePlanChargeId", "ProductRatePlanId"}},
    relation_def{"ProductRatePlanCharge", "Product Rate Plan Charge", "ProductRatePlanCharge",
                 {"RatePlanChargeId", "ProductRatePlanChargeId"}},
    relation_def{"AccountingPeriod", "Accounting Period", "AccountingPeriod", {"AccountingPeriodId"}},
};

constexpr std::array invoice_relations{
    relation_def{"Account", "Account", "Account", {"AccountId"}},
    relation_def{"BillToContact", "Bill To", "Contact", {"AccountId", "BillToId"}},
    relation_def{"SoldToContact", "Sold To", "Contact", {"AccountId", "SoldToId"}},
};

constexpr std::array payment_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"PaymentMethodId", "Payment Method ID", ft::id},
    field_def{"PaymentNumber", "Payment Number", ft::text},
    field_def{"Amount", "Amount", ft::decimal},
    field_def{"AppliedAmount", "Applied Amount", ft::decimal},
    field_def{"EffectiveDate", "Effective Date", ft::date},
    field_def{"Status", "Status", ft::picklist, payment_status_options},
    field_def{"Type", "Type", ft::picklist, payment_type_options},
    field_def{"ReferenceId", "Reference ID", ft::text},
    AQ_COMMON_TAIL,
};
constexpr std::array payment_relations{
    relation_def{"Account", "Account", "Account", {"AccountId"}},
    relation_def{"BillToContact", "Bill To", "Contact", {"AccountId", "BillToId"}},
    relation_def{"PaymentMethod", "Payment Method", "PaymentMethod", {"PaymentMethodId"}},
};

constexpr std::array invoice_payment_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"InvoiceId", "Invoice ID", ft::id},
    field_def{"PaymentId", "Payment ID", ft::id},
    field_def{"Amount", "Amount", ft::decimal},
    AQ_COMMON_TAIL,
};
constexpr std::array invoice_payment_relations{
    relation_def{"Account", "Account", "Account", {"PaymentId", "AccountId"}},
    relation_def{"Invoice", "Invoice", "Invoice", {"InvoiceId"}},
    relation_def{"Payment", "Payment", "Payment", {"PaymentId"}},
};

constexpr std::array credit_balance_adjustment_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"Number", "Number", ft::text},
    field_def{"AdjustmentDate", "Adjustment Date", ft::date},
    field_def{"Amount", "Amount", ft::decimal},
    field_def{"SourceTransactionType", "Source Transaction Type", ft::picklist, source_transaction_options},
    field_def{"Status", "Status", ft::picklist, processed_canceled_options},
    field_def{"Type", "Type", ft::picklist, increase_decrease_options},
    field_def{"AccountingCode", "Accounting Code", ft::text},
    AQ_COMMON_TAIL,
};

constexpr std::array invoice_adjustment_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"InvoiceId", "Invoice ID", ft::id},
    field_def{"AdjustmentNumber", "Adjustment Number", ft::text},
    field_def{"AdjustmentDate", "Adjustment Date", ft::date},
    field_def{"Amount", "Amount", ft::decimal},
    field_def{"ImpactAmount", "Impact Amount", ft::decimal},
    field_def{"Status", "Status", ft::picklist, processed_canceled_options},
    field_def{"Type", "Type", ft::picklist, credit_charge_options},
    field_def{"ReasonCode", "Reason Code", ft::picklist, reason_code_options},
    field_def{"AccountingCode", "Accounting Code", ft::text},
    field_def{"CancelledOn", "Cancelled On", ft::datetime},
    AQ_COMMON_TAIL,
};
constexpr std::array invoice_adjustment_relations{
    relation_def{"Account", "Account", "Account", {"InvoiceId", "AccountId"}},
    relation_def{"Invoice", "Invoice", "Invoice", {"InvoiceId"}},
};

constexpr std::array accounting_period_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"Name", "Name", ft::text},
    field_def{"StartDate", "Start Date", ft::date},
    field_def{"EndDate", "End Date", ft::date},
    field_def{"FiscalYear", "Fiscal Year", ft::integer},
    field_def{"Status", "Status", ft::picklist, open_closed_options},
    AQ_COMMON_TAIL,
};

constexpr std::array usage_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"AccountId", "Account ID", ft::id},
    field_def{"SubscriptionId", "Subscription ID", ft::id},
    field_def{"Quantity", "Quantity", ft::decimal},
    field_def{"UOM", "UOM", ft::text},
    field_def{"StartDateTime", "Start Date Time", ft::datetime},
    field_def{"EndDateTime", "End Date Time", ft::datetime},
    field_def{"Description", "Description", ft::text},
    field_def{"ImportId", "Import ID", ft::text, {}, field_access::soap_only},
    AQ_COMMON_TAIL,
};
constexpr std::array usage_relations{
    relation_def{"Account", "Account", "Account", {"AccountId"}},
    relation_def{"Subscription", "Subscription", "Subscription", {"SubscriptionId"}},
};

// A usage record rated by a bill run: which invoice item billed it.
constexpr std::array processed_usage_fields{
    field_def{"Id", "ID", ft::id},
    field_def{"UsageId", "Usage ID", ft::id},
    field_def{"InvoiceItemId", "Invoice Item ID", ft::id},
    field_def{"Amount", "Amount", ft::decimal},
    field_def{"BillingPeriodStartDate", "Billing Period Start Date", ft::date},
    field_def{"BillingPeriodEndDate", "Billing Period End Date", ft::date},
    AQ_COMMON_TAIL,
};
constexpr std::array processed_usage_relations{
    relation_def{"Account", "Account", "Account", {"UsageId", "AccountId"}},
    relation_def{"Usage", "Usage", "Usage", {"UsageId"}},
    relation_def{"InvoiceItem", "Invoice Item", "InvoiceItem", {"InvoiceItemId"}},
    relation_def{"Invoice", "Invoice", "Invoice", {"InvoiceItemId", "InvoiceId"}},
};

#undef AQ_COMMON_TAIL

// The object kinds, in all_objects() order; char_type_id = kind + 1.
enum kind : int {
  k_account,
  k_contact,
  k_payment_method,
  k_product,
  k_product_rate_plan,
  k_product_rate_plan_charge,
  k_subscription,
  k_rate_plan,
  k_rate_plan_charge,
  k_invoice,
  k_invoice_item,
  k_payment,
  k_invoice_payment,
  k_credit_balance_adjustment,
  k_invoice_adjustment,
  k_accounting_period,
  k_usage,
  k_processed_usage,
  k_count
};

constexpr std::span<const relation_def> none{};

const std::array<object_def, k_count> objects{
    object_def{"Account", "Account", account_fields, account_relations, true, 0x2c92c0f8, 1},
    object_def{"Contact", "Contact", contact_fields, account_only, true, 0x2c92c0f9, 2},
    object_def{"PaymentMethod", "Payment Method", payment_method_fields, account_only, true, 0x2c92c0fa, 3},
    object_def{"Product", "Product", product_fields, none, true, 0x2c92c0fb, 4},
    object_def{"ProductRatePlan", "Product Rate Plan", product_rate_plan_fields, product_rate_plan_relations, true,
               0x2c92c0fc, 5},
    object_def{"ProductRatePlanCharge", "Product Rate Plan Charge", product_rate_plan_charge_fields,
               product_rate_plan_charge_relations, true, 0x2c92c0fd, 6},
    object_def{"Subscription", "Subscription", subscription_fields, subscription_relations, true, 0x2c92c0fe, 7},
    object_def{"RatePlan", "Rate Plan", rate_plan_fields, rate_plan_relations, true, 0x2c92c0ff, 8},
    object_def{"RatePlanCharge", "Rate Plan Charge", rate_plan_charge_fields, rate_plan_charge_relations, true,
               0x2c92c100, 9},
    object_def{"Invoice", "Invoice", invoice_fields, invoice_relations, true, 0x2c92c101, 10},
    object_def{"InvoiceItem", "Invoice Item", invoice_item_fields, invoice_item_relations, true, 0x2c92c102, 11},
    object_def{"Payment", "Payment", payment_fields, payment_relations, true, 0x2c92c103, 12},
    object_def{"InvoicePayment", "Invoice Payment", invoice_payment_fields, invoice_payment_relations, true,
               0x2c92c104, 13},
    object_def{"CreditBalanceAdjustment", "Credit Balance Adjustment", credit_balance_adjustment_fields,
               account_only, true, 0x2c92c105, 14},
    object_def{"InvoiceAdjustment", "Invoice Adjustment", invoice_adjustment_fields, invoice_adjustment_relations,
               true, 0x2c92c106, 15},
    // Contract §4.3: AccountingPeriod has no deleted-record support (90017).
    object_def{"AccountingPeriod", "Accounting Period", accounting_period_fields, none, false, 0x2c92c107, 16},
    object_def{"Usage", "Usage", usage_fields, usage_relations, true, 0x2c92c108, 17},
    // Contract §4.3: ProcessedUsage has no deleted-record support either.
    object_def{"ProcessedUsage", "Processed Usage", processed_usage_fields, processed_usage_relations, false,
               0x2c92c109, 18},
};

const std::array<const object_def*, k_count> object_ptrs = [] {
  std::array<const object_def*, k_count> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = &objects[i];
  return a;
}();

int kind_of(const object_def& obj) { return obj.char_type_id - 1; }

// Fixed catalogue sizes.
constexpr std::uint64_t product_count = 20;
constexpr std::uint64_t plans_per_product = 3;
constexpr std::uint64_t charges_per_plan = 2;
constexpr std::uint64_t period_count = 72;  // months 2020-01 .. 2025-12
constexpr std::uint64_t invoices_per_account = 10;
constexpr std::uint64_t items_per_invoice = 5;
constexpr std::uint64_t payments_per_account = 5;
constexpr std::uint64_t usage_per_account = 3;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t s = a * 0x100000001b3ULL ^ (b + 0x632be59bd9b4e019ULL);
  return splitmix(s);
}

// Deterministic per-row random source.
struct row_rng {
  std::uint64_t state;
  std::uint64_t next() { return splitmix(state); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  std::int64_t below_s(std::int64_t n) { return n <= 0 ? 0 : static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <typename A>
  auto pick(const A& a) -> decltype(a[0]) {
    return a[below(a.size())];
  }
};

row_rng rng_for(std::uint64_t seed, int k, std::uint64_t index, std::uint64_t salt = 0) {
  return row_rng{mix(seed ^ (static_cast<std::uint64_t>(k) << 56), index * 7919 + 17 + salt * 0x9e37)};
}

// Days since 1970-01-01 -> civil date, by the date library's calendar.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  const date::year_month_day ymd{date::sys_days{date::days{z}}};
  y = static_cast<int>(ymd.year());
  m = static_cast<unsigned>(ymd.month());
  d = static_cast<unsigned>(ymd.day());
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

struct broken_down {
  int year;
  unsigned month, day, hour, minute, second;
};

broken_down break_down(std::int64_t unix_s) {
  const std::int64_t days = floor_div(unix_s, 86400);
  const std::int64_t rem = unix_s - days * 86400;
  broken_down b{};
  civil_from_days(days, b.year, b.month, b.day);
  b.hour = static_cast<unsigned>(rem / 3600);
  b.minute = static_cast<unsigned>(rem % 3600 / 60);
  b.second = static_cast<unsigned>(rem % 60);
  return b;
}

void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}
void put4(char* p, int v) {
  const auto u = static_cast<unsigned>(v < 0 ? 0 : v);
  put2(p, u / 100);
  put2(p + 2, u % 100);
}

void append_date(std::int64_t days, std::string& out) {
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[10];
  put4(buf, y);
  buf[4] = '-';
  put2(buf + 5, m);
  buf[7] = '-';
  put2(buf + 8, d);
  out.append(buf, sizeof buf);
}

void append_datetime(std::int64_t unix_s, int off_minutes, std::string& out) {
  const broken_down b = break_down(unix_s + off_minutes * 60);
  char buf[24];
  put4(buf, b.year);
  buf[4] = '-';
  put2(buf + 5, b.month);
  buf[7] = '-';
  put2(buf + 8, b.day);
  buf[10] = 'T';
  put2(buf + 11, b.hour);
  buf[13] = ':';
  put2(buf + 14, b.minute);
  buf[16] = ':';
  put2(buf + 17, b.second);
  const int aoff = off_minutes < 0 ? -off_minutes : off_minutes;
  buf[19] = off_minutes < 0 ? '-' : '+';
  put2(buf + 20, static_cast<unsigned>(aoff / 60));
  put2(buf + 22, static_cast<unsigned>(aoff % 60));
  out.append(buf, sizeof buf);
}

void append_hundredths(std::int64_t v, std::string& out) {
  const bool neg = v < 0;
  const std::uint64_t a = neg ? static_cast<std::uint64_t>(-v) : static_cast<std::uint64_t>(v);
  if (neg) out += '-';
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, a / 100);
  (void)ec;
  out.append(buf, static_cast<std::size_t>(p - buf));
  if (a % 100 != 0) {
    out += '.';
    out += static_cast<char>('0' + a % 100 / 10);
    if (a % 10 != 0) out += static_cast<char>('0' + a % 10);
  }
}

void write_id(std::uint32_t prefix, std::uint64_t seed, std::uint64_t serial, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto mid = static_cast<std::uint32_t>(mix(seed, prefix) & 0xffffffffULL);
  out.resize(32);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = hex[(prefix >> (28 - 4 * i)) & 0xf];
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(8 + i)] = hex[(mid >> (28 - 4 * i)) & 0xf];
  for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(16 + i)] = hex[(serial >> (60 - 4 * i)) & 0xf];
}

// ---- text material: commas, quotes, non-ASCII, and (rarely) newlines ----
constexpr std::array company_names{
    "Acme Corp",
    "M\xC3\xBCller GmbH",                    // Müller
    "Smith, Jones & Co",
    "The \"Best\" Widgets",
    "\xC3\x98resund Logistik",               // Øresund
    "Zo\xC3\xAB's Caf\xC3\xA9",              // Zoë's Café
    "\xC5\x81\xC3\xB3" "d\xC5\xBA Trading",  // Łódź
    "\xE6\x9D\xB1\xE4\xBA\xAC\xE5\x95\x86\xE4\xBA\x8B",  // 東京商事
    "Soci\xC3\xA9t\xC3\xA9 d'Export, SA",
    "O'Brien Brothers",
    "Globex",
    "Initech \"Software\", Inc.",
};
constexpr std::array rep_names{
    "Jos\xC3\xA9 \xC3\x81lvarez", "Anna Schmidt", "Li, Wei", "Priya \"PJ\" Patel", "Tom Baker",
};
constexpr std::array first_names{"Ada", "Bj\xC3\xB6rn", "Chlo\xC3\xA9", "D'Arcy", "Eve", "Fran\xC3\xA7ois",
                                 "Grace", "Hiroshi", "Ingrid", "Jos\xC3\xA9", "Kai", "Zo\xC3\xAB"};
constexpr std::array last_names{"Lovelace", "O'Neil", "M\xC3\xBCller", "Smith", "Garc\xC3\xAD" "a",
                                "van der Berg", "Nakamura", "\xC5\x81ukasz", "Dupont", "Ng"};
constexpr std::array cities{"Berlin", "S\xC3\xA3o Paulo", "Z\xC3\xBCrich", "San Francisco", "K\xC3\xB8" "benhavn",
                            "Tokyo", "Montr\xC3\xA9" "al", "London"};
constexpr std::array states{"CA", "NY", "BE", "ZH", "QC", "", "TX"};
constexpr std::array countries{"United States", "Germany", "Switzerland", "Brazil", "Denmark", "Japan", "Canada",
                               "United Kingdom"};
constexpr std::array streets{"1 Main St", "Hauptstra\xC3\x9F" "e 5", "12 Rue de l'\xC3\x89glise", "221B Baker St",
                             "Apt 4, 99 Elm St", "\"The Mill\", Mill Lane"};
constexpr std::array currencies{"USD", "USD", "USD", "EUR", "GBP", "JPY", "CHF"};
constexpr std::array payment_terms{"Due Upon Receipt", "Net 15", "Net 30", "Net 30", "Net 60"};
constexpr std::array batch_names{"Batch1", "Batch1", "Batch2", "Batch3", "Batch20"};
constexpr std::array product_words{"Cloud", "Analytics", "Storage", "Support", "Premium", "Caf\xC3\xA9", "Edge",
                                   "Data", "Compute", "Insights"};
constexpr std::array plan_words{"Basic", "Pro", "Enterprise"};
constexpr std::array charge_types{"Recurring", "Recurring", "OneTime", "Usage"};
constexpr std::array billing_periods{"Month", "Month", "Quarter", "Annual"};
constexpr std::array uoms{"Each", "GB", "Hours", "Seats", "API Calls"};

std::int64_t days_of(std::int64_t unix_s) { return floor_div(unix_s, 86400); }

}  // namespace

// ---- schema lookups ----

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::span<const object_def* const> all_objects() { return object_ptrs; }

const object_def* find_object(std::string_view name) {
  for (const object_def& o : objects)
    if (iequals(o.name, name)) return &o;
  return nullptr;
}

std::optional<std::size_t> find_field(const object_def& obj, std::string_view field) {
  for (std::size_t i = 0; i < obj.fields.size(); ++i)
    if (iequals(obj.fields[i].name, field)) return i;
  return std::nullopt;
}

const relation_def* find_relation(const object_def& obj, std::string_view name) {
  for (const relation_def& r : obj.relations)
    if (iequals(r.name, name)) return &r;
  return nullptr;
}

// ---- rendering ----

// A day past the month's end counts on into the next month (Feb 30 is March 1 or
// 2): the date library defines that for a valid year and month.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  return date::sys_days{date::year{y} / date::month{m} / date::day{d}}.time_since_epoch().count();
}

const date::time_zone* tenant_zone::zone() const {
  if (builtin_ == builtin::utc) return nullptr;
  if (builtin_ == builtin::other) return zone_;
  static const date::time_zone* const los_angeles = date::locate_zone("America/Los_Angeles");
  return los_angeles;
}

std::optional<tenant_zone> tenant_zone::find(std::string_view name) {
  if (name == "UTC" || name == "utc") return utc;
  if (name == "pacific" || name == "America/Los_Angeles") return pacific;
  try {
    return tenant_zone{builtin::other, date::locate_zone(std::string(name))};
  } catch (const std::runtime_error&) {
    return std::nullopt;  // date/tz's way of saying "no such zone"
  }
}

std::string_view tenant_zone::name() const {
  const date::time_zone* z = zone();
  return z == nullptr ? std::string_view("UTC") : z->name();
}

std::int64_t tenant_zone::offset_seconds(std::int64_t unix_s) const {
  const date::time_zone* z = zone();
  if (z == nullptr) return 0;
  return z->get_info(date::sys_seconds{std::chrono::seconds{unix_s}}).offset.count();
}

std::int64_t tenant_zone::local_to_utc(std::int64_t local_s) const {
  const date::time_zone* z = zone();
  if (z == nullptr) return local_s;
  const date::local_info i = z->get_info(date::local_seconds{std::chrono::seconds{local_s}});
  // unique and ambiguous: `first` is the (earlier) occurrence; nonexistent:
  // `first` is the offset in force before the gap.
  return local_s - i.first.offset.count();
}

int tenant_offset_minutes(tenant_zone z, std::int64_t unix_s) {
  return static_cast<int>(floor_div(z.offset_seconds(unix_s), 60));
}

std::int64_t tenant_local_to_utc(tenant_zone z, std::int64_t local_s) { return z.local_to_utc(local_s); }

std::string format_datetime(std::int64_t unix_s, time_zone tz, tenant_zone zone) {
  std::string out;
  append_datetime(unix_s, tz == time_zone::utc ? 0 : tenant_offset_minutes(zone, unix_s), out);
  return out;
}

std::optional<std::int64_t> parse_wall_clock(std::string_view s, char separator) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != separator || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  const auto num = [&s](std::size_t pos, std::size_t len, unsigned& out) {
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc{} && p == s.data() + pos + len;
  };
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) return std::nullopt;
  const std::int64_t days = days_from_civil(static_cast<int>(y), mo, d);
  int cy;
  unsigned cm, cd;
  civil_from_days(days, cy, cm, cd);
  if (cm != mo || cd != d) return std::nullopt;  // Feb 30 came back as March 1 or 2
  return days * 86400 + h * 3600 + mi * 60 + se;
}

std::string format_plain_datetime(std::int64_t unix_s, int offset_minutes) {
  const broken_down b = break_down(unix_s + offset_minutes * 60);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", b.year, b.month, b.day, b.hour, b.minute, b.second);
}

void render_value(const field_value& v, time_zone tz, std::string& out, tenant_zone zone) {
  switch (v.k) {
    case field_value::kind::null: return;
    case field_value::kind::text:
    case field_value::kind::exact: out += v.s; return;
    case field_value::kind::number: append_hundredths(v.i, out); return;
    case field_value::kind::boolean: out += v.i != 0 ? "true" : "false"; return;
    case field_value::kind::date: append_date(v.i, out); return;
    case field_value::kind::datetime:
      append_datetime(v.i, tz == time_zone::utc ? 0 : tenant_offset_minutes(zone, v.i), out);
      return;
  }
}

namespace {

// A decimal text split into sign and magnitude digits without leading zeros
// (whole) or trailing zeros (frac); zero is positive with both empty.
struct decimal_parts {
  bool negative = false;
  std::string_view whole, frac;
  bool zero() const { return whole.empty() && frac.empty(); }
};

decimal_parts split_decimal(std::string_view s) {
  decimal_parts d;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    d.negative = s.front() == '-';
    s.remove_prefix(1);
  }
  const std::size_t dot = s.find('.');
  d.whole = s.substr(0, dot);
  d.frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  while (!d.whole.empty() && d.whole.front() == '0') d.whole.remove_prefix(1);
  while (!d.frac.empty() && d.frac.back() == '0') d.frac.remove_suffix(1);
  if (d.zero()) d.negative = false;
  return d;
}

}  // namespace

int compare_decimal_text(std::string_view a, std::string_view b) {
  const decimal_parts x = split_decimal(a), y = split_decimal(b);
  if (x.negative != y.negative) return x.negative ? -1 : 1;
  int c = 0;  // magnitude
  if (x.whole.size() != y.whole.size()) c = x.whole.size() < y.whole.size() ? -1 : 1;
  else if (const int w = x.whole.compare(y.whole); w != 0) c = w < 0 ? -1 : 1;
  else if (const int f = x.frac.compare(y.frac); f != 0) c = f < 0 ? -1 : 1;
  return x.negative ? -c : c;
}

void append_decimal_key(std::string_view dec, std::string& out) {
  const decimal_parts d = split_decimal(dec);
  if (d.zero()) {
    out += '\x02';
    return;
  }
  out += d.negative ? '\x01' : '\x03';
  const std::size_t start = out.size();
  out += static_cast<char>(1 + std::min<std::size_t>(d.whole.size(), 250));
  out += d.whole;
  out += d.frac;
  out += '\x01';  // below every digit: a shorter fraction sorts first
  if (d.negative)  // a larger magnitude is a smaller number
    for (std::size_t i = start; i < out.size(); ++i) out[i] = static_cast<char>(~static_cast<unsigned char>(out[i]));
}

// ---- generation ----

namespace {

// Fills a record's values in field order.
class row_builder {
 public:
  row_builder(record& r, std::uint64_t seed) : r_(r), seed_(seed) {}

  field_value& next() { return r_[n_++]; }
  void null() {
    field_value& v = next();
    v.k = field_value::kind::null;
    v.s.clear();
  }
  void text(std::string_view s) {
    field_value& v = next();
    v.k = field_value::kind::text;
    v.s.assign(s);
  }
  template <typename... A>
  void textf(fmt::format_string<A...> f, A&&... a) {
    field_value& v = next();
    v.k = field_value::kind::text;
    v.s.clear();
    fmt::format_to(std::back_inserter(v.s), f, std::forward<A>(a)...);
  }
  void id(int k, std::uint64_t index) {
    field_value& v = next();
    v.k = field_value::kind::text;
    write_id(objects[static_cast<std::size_t>(k)].id_prefix, seed_, index + 1, v.s);
  }
  void user_id(std::uint64_t user) {
    field_value& v = next();
    v.k = field_value::kind::text;
    write_id(0x2c93a0b1, seed_, user + 1, v.s);
  }
  void number(std::int64_t hundredths) { set(field_value::kind::number, hundredths); }
  void exact(std::string_view canonical) {
    field_value& v = next();
    v.k = field_value::kind::exact;
    v.i = 0;
    v.s.assign(canonical);
  }
  void integer(std::int64_t n) { set(field_value::kind::number, n * 100); }
  void boolean(bool b) { set(field_value::kind::boolean, b ? 1 : 0); }
  void date(std::int64_t days) { set(field_value::kind::date, days); }
  void datetime(std::int64_t s) { set(field_value::kind::datetime, s); }
  std::size_t count() const { return n_; }

 private:
  void set(field_value::kind k, std::int64_t i) {
    field_value& v = next();
    v.k = k;
    v.i = i;
  }
  record& r_;
  std::uint64_t seed_;
  std::size_t n_ = 0;
};

constexpr std::int64_t day_s = 86400;
constexpr std::int64_t year_s = 365 * day_s;

// The structure of the tenant as pure functions of (seed, index).
struct layout {
  std::uint64_t seed;

  // CreatedDate of each kind: children come after their parents.
  std::int64_t created(int k, std::uint64_t i) const {
    row_rng r = rng_for(seed, k, i, 1);
    const auto after = [&](std::int64_t parent, std::int64_t max_gap) {
      const std::int64_t room = tenant_epoch_unix_s - day_s - parent;
      return parent + r.below_s(std::min(room, max_gap));
    };
    switch (k) {
      case k_account: return tenant_epoch_unix_s - day_s - r.below_s(5 * year_s);
      case k_contact: return after(created(k_account, i / 2), 2 * day_s);
      case k_payment_method: return after(created(k_account, i), 7 * day_s);
      case k_product: return tenant_epoch_unix_s - 6 * year_s + r.below_s(30 * day_s);
      case k_product_rate_plan: return after(created(k_product, i / plans_per_product), 30 * day_s);
      case k_product_rate_plan_charge: return after(created(k_product_rate_plan, i / charges_per_plan), day_s);
      case k_subscription: return after(created(k_account, i / 2), year_s);
      case k_rate_plan: return after(created(k_subscription, i / 2), 3600);
      case k_rate_plan_charge: return after(created(k_rate_plan, i), 60);
      case k_invoice: {
        // After both subscriptions its items bill (and their rate plans).
        const std::uint64_t a = i / invoices_per_account;
        return after(std::max(created(k_subscription, 2 * a), created(k_subscription, 2 * a + 1)) + 3700, 4 * year_s);
      }
      case k_invoice_item: return created(k_invoice, i / items_per_invoice) + static_cast<std::int64_t>(i % items_per_invoice);
      case k_payment: return after(created(k_account, i / payments_per_account), 4 * year_s);
      case k_invoice_payment: return std::max(created(k_payment, i), created(k_invoice, invoice_of_payment(i))) + 1;
      case k_credit_balance_adjustment: return after(created(k_account, i * 2), 4 * year_s);
      case k_invoice_adjustment: return after(created(k_invoice, invoice_of_adjustment(i)), year_s);
      case k_accounting_period: return tenant_epoch_unix_s - 6 * year_s;
      case k_usage: return after(created(k_subscription, subscription_of_usage(i)), 2 * year_s);
      case k_processed_usage:
        return std::max(created(k_usage, i), created(k_invoice_item, item_of_processed_usage(i, seed))) + 60;
      default: return tenant_epoch_unix_s - year_s;
    }
  }
  std::int64_t updated(int k, std::uint64_t i, std::int64_t created_s) const {
    row_rng r = rng_for(seed, k, i, 2);
    if (r.chance(40)) return created_s;
    return created_s + r.below_s(tenant_epoch_unix_s - created_s);
  }

  static std::uint64_t invoice_of_payment(std::uint64_t i) {
    return (i / payments_per_account) * invoices_per_account + (i % payments_per_account) * 2;
  }
  static std::uint64_t invoice_of_adjustment(std::uint64_t i) { return i * 2 * invoices_per_account + 3; }
  static std::uint64_t subscription_of_usage(std::uint64_t i) { return (i / usage_per_account) * 2 + i % 2; }
  // ProcessedUsage i rates Usage i on one of that account's invoice items.
  static std::uint64_t item_of_processed_usage(std::uint64_t i, std::uint64_t seed) {
    const std::uint64_t per_account = invoices_per_account * items_per_invoice;
    return (i / usage_per_account) * per_account + mix(seed, i * 41 + 3) % per_account;
  }
  std::uint64_t plan_of_rate_plan(std::uint64_t rp) const {
    return mix(seed, rp * 31 + 5) % (product_count * plans_per_product);
  }
  std::uint64_t plan_charge_of_charge(std::uint64_t rpc) const {
    return plan_of_rate_plan(rpc) * charges_per_plan + mix(seed, rpc * 37 + 11) % charges_per_plan;
  }
  // InvoiceItem k: invoice k/5, account k/50; subscription one of the
  // account's two; its rate plan; that plan's charge.
  static std::uint64_t subscription_of_item(std::uint64_t k) {
    return (k / (items_per_invoice * invoices_per_account)) * 2 + k % 2;
  }
  static std::uint64_t charge_of_item(std::uint64_t k) { return subscription_of_item(k) * 2 + (k / 2) % 2; }
  // Cents of item k (charge, tax), so invoices can sum them.
  std::pair<std::int64_t, std::int64_t> item_amounts(std::uint64_t k) const {
    row_rng r = rng_for(seed, k_invoice_item, k, 3);
    const std::int64_t qty = 1 + r.below_s(20);
    const std::int64_t unit = 100 + r.below_s(50'000);
    std::int64_t amount = qty * unit;
    if (r.chance(8)) amount = -amount / 10;  // a discount line
    const std::int64_t tax = amount * 8 / 100;
    return {amount, tax};
  }
  std::int64_t item_unit(std::uint64_t k, std::int64_t& qty) const {
    row_rng r = rng_for(seed, k_invoice_item, k, 3);
    qty = 1 + r.below_s(20);
    return 100 + r.below_s(50'000);
  }
};

std::int64_t period_start_days(std::uint64_t m) {
  return days_from_civil(2020 + static_cast<int>(m / 12), static_cast<unsigned>(m % 12 + 1), 1);
}
std::uint64_t period_of_days(std::int64_t days) {
  int y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  const std::int64_t m = (y - 2020) * 12 + static_cast<int>(mo) - 1;
  return static_cast<std::uint64_t>(std::clamp<std::int64_t>(m, 0, period_count - 1));
}

std::string_view multi_line(row_rng& r, std::string_view a, std::string_view b, unsigned percent,
                            std::string& scratch) {
  if (!r.chance(percent)) return a;
  scratch.assign(a);
  scratch += '\n';
  scratch += b;
  return scratch;
}

// Account.Notes (longtext): often empty, else multi-line free text.
constexpr std::array account_notes{
    "Customer since onboarding.\nPrefers invoices by email; \"AP\" team, cc finance.",
    "Escalation contact: billing desk.\nDo not call before 9am, local time.\nPO required on every invoice.",
    "Renewal negotiated with a 10% discount, valid until the end of the term.\n"
    "Approved by the regional sales director after review of the usage history, the payment record "
    "and the expected growth of the account over the next three years; any further discount needs "
    "the approval of finance.\nSee the attached contract amendment, clause 4.2, \"Pricing\".",
    "Kunde bevorzugt Rechnungen auf Deutsch.\nZahlung per \xC3\x9C" "berweisung.",
};

// A decimal(22,9) value beyond double precision, as canonical text (see
// field_value::kind::exact). Rows 0-3 are fixed (docs/emulator.md), the rest
// vary in magnitude (1 to 17 integer digits), places (0 to 9) and sign.
void exact_decimal(row_rng& r, std::uint64_t i, row_builder& b) {
  switch (i) {
    case 0: b.exact("12345678901234567.123456789"); return;
    case 1: b.exact("-98765432109876543.5"); return;
    case 2: b.exact("10000000000000001"); return;
    case 3: b.null(); return;
    default: break;
  }
  if (r.chance(10)) {
    b.null();
    return;
  }
  static constexpr std::array<std::uint64_t, 18> pow10 = [] {
    std::array<std::uint64_t, 18> p{};
    std::uint64_t v = 1;
    for (auto& x : p) {
      x = v;
      v *= 10;
    }
    return p;
  }();
  const std::uint64_t whole = r.below(pow10[1 + r.below(17)]);
  const auto places = static_cast<std::size_t>(r.below(10));
  std::uint64_t frac = r.below(pow10[places]);
  const bool neg = r.chance(15) && (whole != 0 || frac != 0);
  char buf[40];
  char* p = buf;
  if (neg) *p++ = '-';
  p = std::to_chars(p, buf + sizeof buf, whole).ptr;
  if (frac != 0) {
    std::size_t n = places;
    while (frac % 10 == 0) {  // canonical: no trailing zeros
      frac /= 10;
      --n;
    }
    *p++ = '.';
    char* end = p + n;
    for (char* q = end; q != p; frac /= 10) *--q = static_cast<char>('0' + frac % 10);
    p = end;
  }
  b.exact(std::string_view(buf, static_cast<std::size_t>(p - buf)));
}

void fill_object(const layout& L, int k, std::uint64_t i, row_builder& b, row_rng& r) {
  std::string scratch;
  // Fields added after the first layout draw from their own stream (r2), so
  // that the older fields keep their values.
  switch (k) {
    case k_account: {
      b.textf("A{:08}", i + 1);
      b.textf("{} #{}", multi_line(r, r.pick(company_names), "Accounts Payable", 3, scratch), i + 1);
      const std::int64_t balance = r.chance(30) ? 0 : r.below_s(2'000'000);
      b.number(r.chance(5) ? -balance : balance);
      b.number(r.chance(85) ? 0 : r.below_s(50'000));
      b.boolean(r.chance(40));
      b.text(r.pick(currencies));
      b.integer(1 + r.below_s(31));
      b.text(r.pick(payment_terms));
      const auto st = r.below(100);
      b.text(st < 80 ? "Active" : st < 92 ? "Draft" : "Canceled");
      b.text(r.pick(batch_names));
      if (r.chance(80)) b.text(r.pick(rep_names)); else b.null();
      if (i > 0 && r.chance(10)) b.id(k_account, r.below(i)); else b.null();
      if (r.chance(50)) {
        static constexpr char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        std::string crm = "001";
        for (int c = 0; c < 15; ++c) crm += alnum[r.below(sizeof alnum - 1)];
        b.text(crm);
      } else {
        b.null();
      }
      b.id(k_contact, i * 2);
      b.id(k_contact, i * 2 + 1);
      b.id(k_payment_method, i);
      row_rng r2 = rng_for(L.seed, k, i, 4);
      if (r2.chance(60)) b.null(); else b.text(r2.pick(account_notes));
      exact_decimal(r2, i, b);
      if (r2.chance(50)) b.text("SS-00000001"); else b.null();
      return;
    }
    case k_contact: {
      b.id(k_account, i / 2);
      const std::string_view first = r.pick(first_names);
      const std::string_view last = r.pick(last_names);
      b.text(first);
      b.text(last);
      b.textf("contact{}@example.com", i + 1);
      if (r.chance(30)) b.textf("{}.{}@mail.example", i + 1, r.below(1000)); else b.null();
      b.text(multi_line(r, r.pick(streets), "Building B", 2, scratch));
      b.text(r.pick(cities));
      b.text(r.pick(states));
      b.textf("{:05}", r.below(100000));
      b.text(r.pick(countries));
      return;
    }
    case k_payment_method: {
      b.id(k_account, i);
      const auto t = r.below(10);
      b.text(t < 7 ? "CreditCard" : t < 9 ? "ACH" : "PayPal");
      if (t < 7) b.text(r.chance(60) ? "Visa" : "MasterCard"); else b.null();
      if (t < 7) b.textf("************{:04}", r.below(10000)); else b.null();
      b.text(r.chance(90) ? "Active" : "Closed");
      return;
    }
    case k_product: {
      b.textf("{} {}", product_words[i % product_words.size()], i + 1);
      b.textf("SKU-{:05}", i + 1);
      b.textf("{}", multi_line(r, "Includes setup, \"standard\" support and updates", "See terms.", 15, scratch));
      b.date(days_of(L.created(k, i)));
      if (r.chance(20)) b.date(days_of(tenant_epoch_unix_s) + 365 * 3); else b.null();
      return;
    }
    case k_product_rate_plan: {
      b.id(k_product, i / plans_per_product);
      b.textf("{} plan", plan_words[i % plans_per_product]);
      b.text(multi_line(r, "Monthly, billed in advance", "Cancel anytime", 10, scratch));
      b.date(days_of(L.created(k, i)));
      b.null();
      return;
    }
    case k_product_rate_plan_charge: {
      b.id(k_product_rate_plan, i / charges_per_plan);
      b.textf("{} fee", i % 2 == 0 ? "Base" : "Overage");
      b.text(r.pick(charge_model_options));
      b.text(r.pick(charge_types));
      b.text(r.pick(billing_periods));
      return;
    }
    case k_subscription: {
      b.id(k_account, i / 2);
      b.textf("A-S{:08}", i + 1);
      const auto st = r.below(100);
      b.text(st < 75 ? "Active" : st < 90 ? "Cancelled" : "Expired");
      b.integer(1 + r.below_s(4));
      b.boolean(r.chance(70));
      const bool termed = r.chance(80);
      b.text(termed ? "TERMED" : "EVERGREEN");
      const std::int64_t start = days_of(L.created(k, i));
      b.date(start);
      b.date(start + 365);
      b.date(start);
      if (st >= 75 && st < 90) b.date(start + 30 + r.below_s(300)); else b.null();
      row_rng r2 = rng_for(L.seed, k, i, 4);
      if (termed) b.integer(12 * (1 + r2.below_s(3))); else b.null();  // none for EVERGREEN
      if (r2.chance(15)) b.null(); else b.boolean(r2.chance(20));
      if (r2.chance(70)) b.null(); else b.textf("CPQ-{:08}", i + 1);
      return;
    }
    case k_rate_plan: {
      b.id(k_subscription, i / 2);
      const std::uint64_t plan = L.plan_of_rate_plan(i);
      b.id(k_product_rate_plan, plan);
      b.textf("{} plan", plan_words[plan % plans_per_product]);
      b.text(r.chance(85) ? "NewProduct" : "UpdateProduct");
      return;
    }
    case k_rate_plan_charge: {
      b.id(k_rate_plan, i);
      const std::uint64_t pc = L.plan_charge_of_charge(i);
      b.id(k_product_rate_plan_charge, pc);
      b.textf("{} fee", pc % 2 == 0 ? "Base" : "Overage");
      b.textf("C-{:08}", i + 1);
      b.text(r.pick(charge_model_options));
      b.text(r.pick(charge_types));
      const std::int64_t qty = 1 + r.below_s(50);
      const std::int64_t price = 500 + r.below_s(20'000);
      b.integer(qty);
      b.number(price);
      b.number(qty * price);
      b.number(qty * price * 12);
      const std::int64_t start = days_of(L.created(k, i));
      b.date(start);
      b.date(start + 365);
      b.text(r.pick(billing_periods));
      return;
    }
    case k_invoice: {
      b.id(k_account, i / invoices_per_account);
      b.textf("INV{:08}", i + 1);
      const std::int64_t day = days_of(L.created(k, i));
      b.date(day);
      b.date(day + 30);
      std::int64_t amount = 0, tax = 0;
      for (std::uint64_t j = 0; j < items_per_invoice; ++j) {
        const auto [a, t] = L.item_amounts(i * items_per_invoice + j);
        amount += a;
        tax += t;
      }
      b.number(amount + tax);
      b.number(amount);
      b.number(tax);
      const auto st = r.below(100);
      b.number(st < 60 ? 0 : amount + tax);
      b.text(st < 85 ? "Posted" : st < 95 ? "Draft" : "Canceled");
      row_rng r2 = rng_for(L.seed, k, i, 4);
      // Emailed some hours after it was created, unless a draft or never sent.
      if (st < 85 && r2.chance(60))
        b.datetime(std::min(L.created(k, i) + 3600 * (1 + r2.below_s(72)), tenant_epoch_unix_s - 1));
      else
        b.null();
      b.text("JVBERi0xLjQKJcOkw7zDtsOf");  // "%PDF-1.4\n%..." base64: a PDF's first bytes
      return;
    }
    case k_invoice_item: {
      b.id(k_invoice, i / items_per_invoice);
      b.id(k_subscription, layout::subscription_of_item(i));
      const std::uint64_t rpc = layout::charge_of_item(i);
      b.id(k_rate_plan_charge, rpc);
      const std::int64_t charge_at = L.created(k, i);
      b.id(k_accounting_period, period_of_days(days_of(charge_at)));
      const std::uint64_t pc = L.plan_charge_of_charge(rpc);
      b.textf("{} fee", pc % 2 == 0 ? "Base" : "Overage");
      b.textf("C-{:08}", rpc + 1);
      const auto [amount, tax] = L.item_amounts(i);
      std::int64_t qty = 0;
      const std::int64_t unit = L.item_unit(i, qty);
      b.number(amount);
      b.datetime(charge_at);
      b.integer(qty);
      b.number(unit);
      b.integer(amount < 0 ? 1 : (r.chance(3) ? 4 : 0));
      b.date(days_of(charge_at));
      b.date(days_of(charge_at) + 30);
      b.textf("SKU-{:05}", pc / (plans_per_product * charges_per_plan) + 1);
      b.text(r.pick(uoms));
      b.number(tax);
      return;
    }
    case k_payment: {
      const std::uint64_t acct = i / payments_per_account;
      b.id(k_account, acct);
      b.id(k_payment_method, acct);
      b.textf("P-{:08}", i + 1);
      const std::int64_t amount = 100 + r.below_s(500'000);
      b.number(amount);
      b.number(r.chance(80) ? amount : amount / 2);
      b.date(days_of(L.created(k, i)));
      const auto st = r.below(100);
      b.text(st < 90 ? "Processed" : st < 97 ? "Error" : "Voided");
      b.text(r.chance(85) ? "Electronic" : "External");
      if (r.chance(60)) b.textf("ch_{:016x}", r.next()); else b.null();
      return;
    }
    case k_invoice_payment: {
      b.id(k_invoice, layout::invoice_of_payment(i));
      b.id(k_payment, i);
      b.number(100 + r.below_s(500'000));
      return;
    }
    case k_credit_balance_adjustment: {
      b.id(k_account, i * 2);
      b.textf("CBA-{:08}", i + 1);
      b.date(days_of(L.created(k, i)));
      b.number(100 + r.below_s(100'000));
      b.text(r.chance(50) ? "Invoice" : "Payment");
      b.text(r.chance(95) ? "Processed" : "Canceled");
      b.text(r.chance(50) ? "Increase" : "Decrease");
      if (r.chance(50)) b.text("Accounts Receivable"); else b.null();
      return;
    }
    case k_invoice_adjustment: {
      b.id(k_invoice, layout::invoice_of_adjustment(i));
      b.textf("IA-{:08}", i + 1);
      b.date(days_of(L.created(k, i)));
      const std::int64_t amount = 100 + r.below_s(20'000);
      b.number(amount);
      const bool credit = r.chance(70);
      b.number(credit ? -amount : amount);
      const bool cancelled = r.chance(5);
      b.text(cancelled ? "Canceled" : "Processed");
      b.text(credit ? "Credit" : "Charge");
      b.text(r.pick(reason_code_options));
      b.text("Accounts Receivable");
      if (cancelled) b.datetime(L.created(k, i) + 86400); else b.null();
      return;
    }
    case k_accounting_period: {
      const std::int64_t start = period_start_days(i);
      const std::int64_t end = period_start_days(i + 1) - 1;
      int y;
      unsigned m, d;
      civil_from_days(start, y, m, d);
      static constexpr std::array months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      b.textf("{}-{}", months[m - 1], y);
      b.date(start);
      b.date(end);
      b.integer(y);
      b.text(i + 2 < period_count ? "Closed" : "Open");
      return;
    }
    case k_usage: {
      b.id(k_account, i / usage_per_account);
      b.id(k_subscription, layout::subscription_of_usage(i));
      b.number(r.below_s(1'000'000));
      b.text(r.pick(uoms));
      const std::int64_t start = L.created(k, i) - r.below_s(86400);
      b.datetime(start);
      b.datetime(start + 3600 * (1 + r.below_s(24)));
      b.text(multi_line(r, r.chance(50) ? "API calls, region \"eu-1\"" : "Stockage \xC3\xA0 froid", "(metered)", 2,
                        scratch));
      b.textf("IMP-{:06}", i / 500 + 1);
      return;
    }
    case k_processed_usage: {
      b.id(k_usage, i);
      b.id(k_invoice_item, layout::item_of_processed_usage(i, L.seed));
      b.number(r.below_s(1'000'000));
      const std::uint64_t period = period_of_days(days_of(L.created(k_usage, i)));
      b.date(period_start_days(period));
      b.date(period_start_days(period + 1) - 1);
      return;
    }
    default: return;
  }
}

}  // namespace

struct updated_index_cache {
  std::mutex m;
  std::vector<bool> built = std::vector<bool>(all_objects().size());
  std::vector<std::shared_ptr<const updated_index>> by_slot = std::vector<std::shared_ptr<const updated_index>>(all_objects().size());
};

tenant_generator::tenant_generator(std::uint64_t seed, std::uint64_t scale, std::vector<burst_rows> bursts)
    : seed_(seed), scale_(scale), bursts_(std::move(bursts)), index_cache_(std::make_shared<updated_index_cache>()) {}

std::shared_ptr<const updated_index> tenant_generator::updated_index_of(const object_def& obj) const {
  const auto slot = static_cast<std::size_t>(obj.char_type_id - 1);
  const std::lock_guard lock(index_cache_->m);  // one build per object; other jobs wait for it
  if (index_cache_->built[slot]) return index_cache_->by_slot[slot];
  index_cache_->built[slot] = true;
  const std::uint64_t n = base_count(obj);
  if (n < updated_index::min_rows || n > 0xffffffffULL) return nullptr;
  auto idx = std::make_shared<updated_index>();
  idx->keys.resize(n);
  std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::int64_t u = base_updated(obj, i);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    idx->keys[i] = static_cast<std::uint64_t>(u);  // the time for now; keyed below
  }
  if (static_cast<std::uint64_t>(hi - lo) > 0xffffffffULL) return nullptr;
  idx->base = lo;
  for (std::uint64_t i = 0; i < n; ++i)
    idx->keys[i] = (static_cast<std::uint64_t>(static_cast<std::int64_t>(idx->keys[i]) - lo) << 32) | i;
  std::sort(idx->keys.begin(), idx->keys.end());
  index_cache_->by_slot[slot] = idx;
  return idx;
}

namespace {

// The keys of updated_index `x` whose time lies in [first, last].
std::pair<const std::uint64_t*, const std::uint64_t*> keys_in(const updated_index& x, std::int64_t first,
                                                              std::int64_t last) {
  const std::uint64_t* b = x.keys.data();
  const std::uint64_t* e = b + x.keys.size();
  const std::int64_t top = static_cast<std::int64_t>(0xffffffffLL);
  if (last < x.base || first > last || first > x.base + top) return {e, e};
  const std::int64_t f = first <= x.base ? 0 : first - x.base;
  const std::int64_t l = last >= x.base + top ? top : last - x.base;
  const auto* lo = std::lower_bound(b, e, static_cast<std::uint64_t>(f) << 32);
  const auto* hi = l == top ? e : std::lower_bound(lo, e, static_cast<std::uint64_t>(l + 1) << 32);
  return {lo, hi};
}

}  // namespace

void updated_index::rows_in(std::int64_t first, std::int64_t last, std::uint64_t from,
                            std::vector<std::uint64_t>& out) const {
  const auto [lo, hi] = keys_in(*this, first, last);
  for (const std::uint64_t* k = lo; k != hi; ++k)
    if ((*k & 0xffffffffULL) >= from) out.push_back(*k & 0xffffffffULL);
}

std::uint64_t updated_index::count_in(std::int64_t first, std::int64_t last) const {
  const auto [lo, hi] = keys_in(*this, first, last);
  return static_cast<std::uint64_t>(hi - lo);
}

std::uint64_t tenant_generator::base_count(const object_def& obj) const {
  const std::uint64_t n = scale_;
  switch (kind_of(obj)) {
    case k_account: return n;
    case k_contact: return 2 * n;
    case k_payment_method: return n;
    case k_product: return product_count;
    case k_product_rate_plan: return product_count * plans_per_product;
    case k_product_rate_plan_charge: return product_count * plans_per_product * charges_per_plan;
    case k_subscription: return 2 * n;
    case k_rate_plan: return 4 * n;
    case k_rate_plan_charge: return 4 * n;
    case k_invoice: return invoices_per_account * n;
    case k_invoice_item: return invoices_per_account * items_per_invoice * n;
    case k_payment: return payments_per_account * n;
    case k_invoice_payment: return payments_per_account * n;
    case k_credit_balance_adjustment: return (n + 1) / 2;
    case k_invoice_adjustment: return (n + 1) / 2;
    case k_accounting_period: return period_count;
    case k_usage: return usage_per_account * n;
    case k_processed_usage: return usage_per_account * n;
    default: return 0;
  }
}

void tenant_generator::generate(const object_def& obj, std::uint64_t index, record& out) const {
  const int k = kind_of(obj);
  out.resize(obj.fields.size());
  const layout L{seed_};
  row_rng r = rng_for(seed_, k, index);
  row_builder b(out, seed_);
  b.id(k, index);
  fill_object(L, k, index, b, r);
  const std::int64_t created = L.created(k, index);
  b.datetime(created);
  b.datetime(with_burst(obj, index, created, L.updated(k, index, created)));
  const std::uint64_t creator = r.below(5);
  b.user_id(creator);
  b.user_id(r.chance(70) ? creator : r.below(5));
}

std::int64_t tenant_generator::base_updated(const object_def& obj, std::uint64_t index) const {
  const layout L{seed_};
  const int k = kind_of(obj);
  const std::int64_t created = L.created(k, index);
  return with_burst(obj, index, created, L.updated(k, index, created));
}

std::int64_t tenant_generator::with_burst(const object_def& obj, std::uint64_t index, std::int64_t created,
                                          std::int64_t updated) const {
  for (const burst_rows& b : bursts_)
    if (b.obj == &obj && index < b.count) return std::max(created, b.at_unix_s);
  return updated;
}

std::string tenant_generator::make_id(const object_def& obj, std::uint64_t index) const {
  std::string s;
  write_id(obj.id_prefix, seed_, index + 1, s);
  return s;
}

std::optional<std::uint64_t> tenant_generator::index_of_id(const object_def& obj, std::string_view id) {
  if (id.size() != 32) return std::nullopt;
  std::uint32_t prefix = 0;
  std::uint64_t serial = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const char c = id[i];
    unsigned v;
    if (c >= '0' && c <= '9') v = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') v = static_cast<unsigned>(c - 'a' + 10);
    else return std::nullopt;
    if (i < 8) prefix = prefix << 4 | v;
    if (i >= 16) serial = serial << 4 | v;
  }
  if (prefix != obj.id_prefix || serial == 0) return std::nullopt;
  return serial - 1;
}

}  // namespace aquaduct::emulator
